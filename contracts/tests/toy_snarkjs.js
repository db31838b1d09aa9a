// Test-only snarkjs driver for toy_step.circom, one process for many proofs:
//   node toy_snarkjs.js setup <r1cs> <ptau> <zkey out> <verifier.sol out>
//   node toy_snarkjs.js prove <wasm> <zkey>   (stdin: JSON list of inputs; stdout: [{proof, publicSignals}])
const fs = require("fs");
const path = require("path");
const snarkjs = require("snarkjs");

async function setup(r1cs, ptau, zkey, verifierSol) {
  await snarkjs.zKey.newZKey(r1cs, ptau, zkey);
  const template = fs.readFileSync(
    path.join(path.dirname(require.resolve("snarkjs")), "..", "templates", "verifier_groth16.sol.ejs"),
    "utf8",
  );
  fs.writeFileSync(verifierSol, await snarkjs.zKey.exportSolidityVerifier(zkey, { groth16: template }));
}

async function prove(wasm, zkey) {
  const inputs = JSON.parse(fs.readFileSync(0, "utf8"));
  const proofs = [];
  for (const input of inputs) proofs.push(await snarkjs.groth16.fullProve(input, wasm, zkey));
  process.stdout.write(JSON.stringify(proofs));
}

const [command, ...args] = process.argv.slice(2);
const run = { setup, prove }[command];
run(...args).then(
  () => process.exit(0), // snarkjs keeps worker threads alive
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
