// Hardhat 2 config for `hardhat node` only (contracts are compiled with solc-js by contracts/compile.py, so no
// compiler is ever downloaded). The mnemonic is hardhat's public default: dev accounts for a local chain only.
module.exports = {
  networks: {
    hardhat: {
      chainId: 31337,
      accounts: {
        mnemonic: "test test test test test test test test test test test junk",
        count: Number(process.env.DH_HARDHAT_ACCOUNTS || 20),
      },
    },
  },
};
