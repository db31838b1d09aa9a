// Long-lived snarkjs worker for crypto/zk/node.py: one JSON request per stdin line, one JSON reply per stdout
// line, handled one at a time. Keeping the process (and snarkjs' cached BN254 curve and its worker threads)
// alive is what makes a Groth16 verification take tens of milliseconds instead of most of a second.
//
// Request:  {"id": n, "op": "...", ...arguments}
// Reply:    {"id": n, "ok": true, "result": ...}  or  {"id": n, "ok": false, "error": "message"}
// Nothing here logs inputs: witnesses hold private training data.

import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import readline from "node:readline";

import * as snarkjs from "snarkjs";

const require = createRequire(import.meta.url);
const snarkjsRoot = path.dirname(path.dirname(require.resolve("snarkjs")));

const operations = {
    async prove({ wasm, zkey, input }) {
        const { proof, publicSignals } = await snarkjs.groth16.fullProve(input, wasm, zkey);
        return { proof, publicSignals };
    },
    async witness({ wasm, input, wtns }) {
        await snarkjs.wtns.calculate(input, wasm, wtns);
        return true;
    },
    async verify({ vkey, items }) {
        const results = [];
        for (const { proof, publicSignals } of items) {
            results.push(await snarkjs.groth16.verify(vkey, publicSignals, proof));
        }
        return results;
    },
    async setup({ r1cs, ptau, zkey }) {
        await snarkjs.zKey.newZKey(r1cs, ptau, zkey);
        return true;
    },
    async contribute({ zkeyIn, zkeyOut, name, entropy }) {
        const hash = await snarkjs.zKey.contribute(zkeyIn, zkeyOut, name, entropy);
        return Buffer.from(hash).toString("hex");
    },
    async beacon({ zkeyIn, zkeyOut, name, beaconHex, iterationsExp }) {
        const hash = await snarkjs.zKey.beacon(zkeyIn, zkeyOut, name, beaconHex, iterationsExp);
        return Buffer.from(hash).toString("hex");
    },
    async verifyZkey({ r1cs, ptau, zkey }) {
        return await snarkjs.zKey.verifyFromR1cs(r1cs, ptau, zkey);
    },
    async exportVkey({ zkey }) {
        return await snarkjs.zKey.exportVerificationKey(zkey);
    },
    async exportSolidity({ zkey }) {
        const template = path.join(snarkjsRoot, "templates", "verifier_groth16.sol.ejs");
        return await snarkjs.zKey.exportSolidityVerifier(zkey, { groth16: fs.readFileSync(template, "utf8") });
    },
};

async function main() {
    const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
    for await (const line of lines) {
        if (!line.trim()) continue;
        let id = null;
        let reply;
        try {
            const request = JSON.parse(line);
            id = request.id;
            const operation = operations[request.op];
            if (!operation) throw new Error(`unknown operation ${request.op}`);
            reply = { id, ok: true, result: await operation(request) };
        } catch (error) {
            reply = { id, ok: false, error: String(error && error.message ? error.message : error) };
        }
        process.stdout.write(JSON.stringify(reply) + "\n");
    }
    // stdin closed: the Python side is done. The curve's worker threads would keep the process alive.
    process.exit(0);
}

main();
