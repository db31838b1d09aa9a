// Compile a solc standard-JSON input (stdin) with solc-js from node_modules; print the standard-JSON output.
// No import callback: every source is passed in, so nothing is read from disk or downloaded.
const solc = require("solc");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => process.stdout.write(solc.compile(input)));
