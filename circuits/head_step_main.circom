pragma circom 2.1.0;

// The default proof-of-training circuit. crypto/zk/build.py compiles other sizes from this file by
// replacing HeadSteps' arguments. By hand, from this folder:
//     npx circom2 head_step_main.circom --r1cs --wasm -l ../node_modules/circomlib/circuits -o <dir>
include "head_step.circom";

component main {public [headBefore, headAfter, batchHash, lrQ, context]} = HeadSteps(16, 2, 8, 4);
