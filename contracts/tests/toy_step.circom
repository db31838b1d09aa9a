pragma circom 2.1.0;

// A stand-in for the training-step circuit with the same public shape (4 signals: commitment before, commitment
// after, batch tag, learning rate), small enough to set up in seconds. Public signals: [before, after, batchTag, lr].
template ToyStep() {
    signal input w;         // private "weights"
    signal input x;         // private "batch"
    signal input batchTag;  // public
    signal input lr;        // public
    signal output before;
    signal output after;

    signal step;
    step <== lr * x;
    before <== w * w;
    after <== (w - step) * (w - step);
    signal tagSquare;       // ties the batch tag into a constraint
    tagSquare <== batchTag * x;
}

component main {public [batchTag, lr]} = ToyStep();
