pragma circom 2.1.0;

// One SGD step of the fixed-point classifier head, exactly as fl/fixed_head.py computes it:
//     z  = (X @ W.T) // S + b
//     e  = z - S * onehot(y)
//     W' = W - (lr * (e.T @ X)) // (S * S * B)
//     b' = b - (lr * sum_s e_s) // (S * B)
// Integers are field elements, negatives as p - |v|. Every private input is range-checked and every
// intermediate is bounded by those checks, so no value wraps modulo p and each field equation is an
// integer equation. Public: Poseidon hashes of (W, b) before and after, of the packed batch (X, y), lr, and the
// round context (bound into the proof so it cannot be replayed under another round or hospital).

include "poseidon.circom";
include "bitify.circom";

// Smallest n with 2^n >= x.
function ceilLog2(x) {
    var n = 0;
    while ((1 << n) < x) {
        n++;
    }
    return n;
}

// -2^n < in < 2^n.
template SignedBelow(n) {
    signal input in;
    component bits = Num2Bits(n + 1);
    bits.in <== in + (1 << n) - 1;  // in in [-(2^n - 1), 2^n]
    signal inverse;                   // ... and in != 2^n
    inverse <-- 1 / (in - (1 << n));
    (in - (1 << n)) * inverse === 1;
}

// -2^n <= in <= 2^n.
template SignedAtMost(n) {
    signal input in;
    component bits = Num2Bits(n + 2);
    bits.in <== in + (1 << n);
    // With the top bit (2^(n+1)) set, nothing else may be: in + 2^n <= 2^(n+1).
    bits.out[n + 1] * (in + (1 << n) - bits.out[n + 1] * (1 << (n + 1))) === 0;
}

// quotient = floor(numerator / divisor) for a signed numerator with |quotient| < 2^quotientBits.
template FloorDiv(divisor, quotientBits) {
    signal input numerator;
    signal output quotient;
    signal remainder;

    var offset = divisor * (1 << quotientBits);  // makes the numerator non-negative for \ and %
    quotient <-- (numerator + offset) \ divisor - (1 << quotientBits);
    remainder <-- (numerator + offset) % divisor;
    numerator === quotient * divisor + remainder;

    var remainderBits = ceilLog2(divisor);
    component remainderRange = Num2Bits(remainderBits);
    remainderRange.in <== remainder;
    if ((1 << remainderBits) != divisor) {
        component remainderBelow = Num2Bits(remainderBits);
        remainderBelow.in <== divisor - 1 - remainder;
    }
    component quotientRange = Num2Bits(quotientBits + 1);
    quotientRange.in <== quotient + (1 << quotientBits);
}

// Poseidon over any number of values: the first 16, then the running hash with the next 15, and so on.
template HashChain(n) {
    signal input in[n];
    signal output out;

    var first = n < 16 ? n : 16;
    var calls = n <= 16 ? 1 : 1 + (n - 16 + 14) \ 15;
    component hashes[calls];
    hashes[0] = Poseidon(first);
    for (var i = 0; i < first; i++) {
        hashes[0].inputs[i] <== in[i];
    }
    var done = first;
    for (var c = 1; c < calls; c++) {
        var width = n - done < 15 ? n - done : 15;
        hashes[c] = Poseidon(width + 1);
        hashes[c].inputs[0] <== hashes[c - 1].out;
        for (var i = 0; i < width; i++) {
            hashes[c].inputs[i + 1] <== in[done + i];
        }
        done += width;
    }
    out <== hashes[calls - 1].out;
}

// One SGD step: (W, b) -> (newW, newB) on the batch (X, y), with the range checks that keep it exact: |W|, |b| <
// 2^24, |X| <= 2^16, 0 <= y < k (lr is checked once by the caller).
template SgdStep(d, k, B) {
    signal input W[k][d];
    signal input b[k];
    signal input X[B][d];
    signal input y[B];
    signal input lrQ;
    signal output newW[k][d];
    signal output newB[k];

    var SCALE_BITS = 16;
    var S = 1 << SCALE_BITS;
    var WEIGHT_BITS = 24;

    component weightRange[k][d];
    component biasRange[k];
    for (var c = 0; c < k; c++) {
        for (var j = 0; j < d; j++) {
            weightRange[c][j] = SignedBelow(WEIGHT_BITS);
            weightRange[c][j].in <== W[c][j];
        }
        biasRange[c] = SignedBelow(WEIGHT_BITS);
        biasRange[c].in <== b[c];
    }
    component featureRange[B][d];
    for (var s = 0; s < B; s++) {
        for (var j = 0; j < d; j++) {
            featureRange[s][j] = SignedAtMost(SCALE_BITS);
            featureRange[s][j].in <== X[s][j];
        }
    }

    // Labels: one-hot bits summing to one, whose index is y (so 0 <= y < k).
    signal onehot[B][k];
    for (var s = 0; s < B; s++) {
        var total = 0;
        var index = 0;
        for (var c = 0; c < k; c++) {
            onehot[s][c] <-- y[s] == c ? 1 : 0;
            onehot[s][c] * (onehot[s][c] - 1) === 0;
            total += onehot[s][c];
            index += c * onehot[s][c];
        }
        total === 1;
        index === y[s];
    }

    // Bounds, from the range checks: |X @ W.T| < d 2^40, so |z|, |e| < (d + 2) 2^24.
    var LOGIT_BITS = WEIGHT_BITS + ceilLog2(d) + 1;
    var UPDATE_BITS = WEIGHT_BITS + ceilLog2(d + 2) + 1;

    // Error e = (X @ W.T) // S + b - S * onehot(y).
    signal product[B][k][d];
    component logitDiv[B][k];
    signal err[B][k];
    for (var s = 0; s < B; s++) {
        for (var c = 0; c < k; c++) {
            var dot = 0;
            for (var j = 0; j < d; j++) {
                product[s][c][j] <== X[s][j] * W[c][j];
                dot += product[s][c][j];
            }
            logitDiv[s][c] = FloorDiv(S, LOGIT_BITS);
            logitDiv[s][c].numerator <== dot;
            err[s][c] <== logitDiv[s][c].quotient + b[c] - S * onehot[s][c];
        }
    }

    // W' = W - (lr * (e.T @ X)) // (S * S * B).
    signal errFeature[k][d][B];
    signal scaledGrad[k][d];
    component weightDiv[k][d];
    for (var c = 0; c < k; c++) {
        for (var j = 0; j < d; j++) {
            var grad = 0;
            for (var s = 0; s < B; s++) {
                errFeature[c][j][s] <== err[s][c] * X[s][j];
                grad += errFeature[c][j][s];
            }
            scaledGrad[c][j] <== lrQ * grad;
            weightDiv[c][j] = FloorDiv(S * S * B, UPDATE_BITS);
            weightDiv[c][j].numerator <== scaledGrad[c][j];
            newW[c][j] <== W[c][j] - weightDiv[c][j].quotient;
        }
    }

    // b' = b - (lr * sum_s e_s) // (S * B).
    signal scaledBiasGrad[k];
    component biasDiv[k];
    for (var c = 0; c < k; c++) {
        var errSum = 0;
        for (var s = 0; s < B; s++) {
            errSum += err[s][c];
        }
        scaledBiasGrad[c] <== lrQ * errSum;
        biasDiv[c] = FloorDiv(S * B, UPDATE_BITS);
        biasDiv[c].numerator <== scaledBiasGrad[c];
        newB[c] <== b[c] - biasDiv[c].quotient;
    }
}

// Poseidon hash of a head: W row-major, then b (HashChain of the k d + k values).
template HeadHash(d, k) {
    signal input W[k][d];
    signal input b[k];
    signal output out;
    component hash = HashChain(k * d + k);
    for (var c = 0; c < k; c++) {
        for (var j = 0; j < d; j++) {
            hash.in[c * d + j] <== W[c][j];
        }
        hash.in[k * d + c] <== b[c];
    }
    out <== hash.out;
}

// T consecutive SGD steps of the head, from the head hashed as headBefore to the one hashed as headAfter; the
// intermediate heads stay private, so the head is hashed twice per proof, not twice per step.
template HeadSteps(d, k, B, T) {
    // Public inputs, in this order (snarkjs public signals = this order: no outputs).
    signal input headBefore;
    signal input headAfter;
    signal input batchHash;
    signal input lrQ;
    signal input context;
    // Private inputs: the head before the first step, and each step's batch.
    signal input W[k][d];
    signal input b[k];
    signal input X[T][B][d];
    signal input y[T][B];

    var S = 1 << 16;
    component lrRange = Num2Bits(16);  // 0 < lr <= 2^16
    lrRange.in <== lrQ - 1;

    component steps[T];
    for (var t = 0; t < T; t++) {
        steps[t] = SgdStep(d, k, B);
        steps[t].lrQ <== lrQ;
        for (var c = 0; c < k; c++) {
            for (var j = 0; j < d; j++) {
                steps[t].W[c][j] <== t == 0 ? W[c][j] : steps[t - 1].newW[c][j];
            }
            steps[t].b[c] <== t == 0 ? b[c] : steps[t - 1].newB[c];
        }
        for (var s = 0; s < B; s++) {
            for (var j = 0; j < d; j++) {
                steps[t].X[s][j] <== X[t][s][j];
            }
            steps[t].y[s] <== y[t][s];
        }
    }

    component hashBefore = HeadHash(d, k);
    component hashAfter = HeadHash(d, k);
    for (var c = 0; c < k; c++) {
        for (var j = 0; j < d; j++) {
            hashBefore.W[c][j] <== W[c][j];
            hashAfter.W[c][j] <== steps[T - 1].newW[c][j];
        }
        hashBefore.b[c] <== b[c];
        hashAfter.b[c] <== steps[T - 1].newB[c];
    }
    headBefore === hashBefore.out;
    headAfter === hashAfter.out;

    // The batches are hashed packed: X + 2^16 (in [0, 2^17] by the range checks) row-major over all T B samples,
    // then y (in [0, k)), BATCH_SLOTS values of BATCH_SLOT_BITS bits to a field element. Within those ranges
    // the packing is injective, and it hashes 14 times fewer elements than the values one by one.
    var BATCH_SLOT_BITS = 18;
    var BATCH_SLOTS = 14;
    var rows = T * B;
    var values = rows * d + rows;
    var packedCount = (values + BATCH_SLOTS - 1) \ BATCH_SLOTS;
    var packed[packedCount];
    for (var e = 0; e < packedCount; e++) {
        packed[e] = 0;
    }
    for (var v = 0; v < values; v++) {
        var value = v < rows * d ? X[v \ (B * d)][(v \ d) % B][v % d] + S : y[(v - rows * d) \ B][(v - rows * d) % B];
        packed[v \ BATCH_SLOTS] += value * (1 << (BATCH_SLOT_BITS * (v % BATCH_SLOTS)));
    }
    component hashBatch = HashChain(packedCount);
    for (var e = 0; e < packedCount; e++) {
        hashBatch.in[e] <== packed[e];
    }
    batchHash === hashBatch.out;

    // A quadratic constraint on the context, so the proof binds it (an unconstrained public input would not be).
    signal contextSquare <== context * context;
}
