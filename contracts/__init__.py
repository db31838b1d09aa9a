"""On-chain round registry: Solidity sources, solc-js compilation, a web3.py client and a local hardhat chain."""
