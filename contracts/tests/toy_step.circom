pragma circom 2.1.0;

// A stand-in for the training-step circuit with the same public shape (5 signals: commitment before, commitment
// after, batch tag, learning rate, context), small enough to set up in seconds.
// Public signals: [before, after, batchTag, lr, context]; the context is last, as in the real circuit.
template ToyStep() {
    signal input w;         // private "weights"
    signal input x;         // private "batch"
    signal input batchTag;  // public
    signal input lr;        // public
    signal input context;   // public: what the registry binds to (round, sender, model, run)
    signal output before;
    signal output after;

    signal step;
    step <== lr * x;
    before <== w * w;
    after <== (w - step) * (w - step);
    signal tagSquare;       // ties the batch tag into a constraint
    tagSquare <== batchTag * x;
    signal contextSquare;   // and the context
    contextSquare <== context * context;
}

component main {public [batchTag, lr, context]} = ToyStep();
