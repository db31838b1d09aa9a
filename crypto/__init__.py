"""Cryptography of DecentraHealth, free of Django: CKKS updates, threshold decryption, proofs of training."""
