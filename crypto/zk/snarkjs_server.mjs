// Long-lived snarkjs worker for crypto/zk/node.py: one JSON request per stdin line, one JSON reply per stdout
// line, handled one at a time. Keeping the process (and snarkjs' cached BN254 curve and its worker threads)
// alive is what makes a Groth16 verification take tens of milliseconds instead of most of a second.
//
// Request:  {"id": n, "op": "...", ...arguments}
// Reply:    {"id": n, "ok": true, "result": ...}  or  {"id": n, "ok": false, "error": "message"}
// Nothing here logs inputs: witnesses hold private training data, and a contribution's entropy arrives in its
// request and is never written anywhere.

import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import readline from "node:readline";
import { pathToFileURL } from "node:url";

import { blake2b } from "@noble/hashes/blake2b";
import { WitnessCalculatorBuilder } from "circom_runtime";
import * as binFileUtils from "@iden3/binfileutils";
import * as snarkjs from "snarkjs";

const require = createRequire(import.meta.url);
const snarkjsRoot = path.dirname(path.dirname(require.resolve("snarkjs")));
// snarkjs' zkey reader (not exported by the package; the same module instance main.js re-exports from).
const zkeyUtils = await import(pathToFileURL(path.join(snarkjsRoot, "src", "zkey_utils.js")).href);

// stdout carries the replies only: snarkjs' verifiers print their findings with console.log.
console.log = (...args) => console.error(...args);
console.info = console.log;
console.debug = console.log;

// Runs a snarkjs verification, collecting what it says is wrong (its logger's warnings and errors, and what it
// prints): {valid, problems}.
async function verification(run) {
    const problems = [];
    const note = (message) => problems.push(String(message));
    const logger = { debug() {}, info() {}, warn: note, error: note };
    const print = console.log;
    console.log = (...args) => note(args.join(" "));
    try {
        const valid = (await run(logger)) === true;
        return { valid, problems };
    } finally {
        console.log = print;
    }
}

// One witness calculator per circuit wasm (by path and modification time): snarkjs' wtns.calculate compiles the
// wasm anew on every call, which cost about 0.25 s of the 0.3 s a witness of the head-step circuit took.
const calculators = new Map();
async function witnessCalculator(wasm) {
    const key = `${wasm}:${fs.statSync(wasm).mtimeMs}`;
    if (!calculators.has(key)) {
        calculators.set(key, await WitnessCalculatorBuilder(fs.readFileSync(wasm)));
    }
    return calculators.get(key);
}

const operations = {
    async prove({ wasm, zkey, input }) {
        const { proof, publicSignals } = await snarkjs.groth16.fullProve(input, wasm, zkey);
        return { proof, publicSignals };
    },
    async witness({ wasm, input, wtns }) {
        const calculator = await witnessCalculator(wasm);
        fs.writeFileSync(wtns, await calculator.calculateWTNSBin(input), { mode: 0o600 });
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
    // The whole chain of a phase-2 zkey: from the r1cs and ptau (as `snarkjs zkey verify`), or from the initial
    // zkey that `groth16 setup` made of them (the same check without remaking it).
    async verifyZkeyFromR1cs({ r1cs, ptau, zkey }) {
        return await verification((logger) => snarkjs.zKey.verifyFromR1cs(r1cs, ptau, zkey, logger));
    },
    async verifyZkeyFromInit({ init, ptau, zkey }) {
        return await verification((logger) => snarkjs.zKey.verifyFromInit(init, ptau, zkey, logger));
    },
    // The contributions of a zkey with the hash `snarkjs zkey contribute` prints for each (blake2b-512 of the
    // contributor's public key and transcript).
    async zkeyContributions({ zkey }) {
        const { fd, sections } = await binFileUtils.readBinFile(zkey, "zkey", 2);
        try {
            const header = await zkeyUtils.readHeader(fd, sections, false);
            if (header.protocol != "groth16") throw new Error("not a Groth16 zkey");
            const mpcParams = await zkeyUtils.readMPCParams(fd, header.curve, sections);
            return mpcParams.contributions.map((c) => {
                const hasher = blake2b.create({ dkLen: 64 });
                zkeyUtils.hashPubKey(hasher, header.curve, c);
                return {
                    name: c.name || "",
                    type: c.type,
                    hash: Buffer.from(hasher.digest()).toString("hex"),
                };
            });
        } finally {
            await fd.close();
        }
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
