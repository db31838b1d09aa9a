import { humanize } from "./format.js";

// Words for the API's names: the round plan's fields and choices (/api/rounds/plan-options/ sends names,
// types, limits and defaults, not words for people), and how a round protects its updates.

export const PROTECTION = {
  label: "Update protection",
  hint: "How the hospitals' updates travel: encrypted, only their sum is ever decrypted, by a quorum of key holders.",
  choices: {
    ckks: "Encrypted (CKKS, threshold decryption)",
    plaintext: "Plaintext (benchmark baseline only)",
  },
};

export const PROOF_SCHEME = {
  label: "Proofs of training",
  hint: "Each hospital proves with a zero-knowledge proof that it trained the classifier head as planned.",
  choices: {
    groth16: "Zero-knowledge proofs (Groth16)",
    none: "None",
  },
};

export const SERVER_STRATEGY = {
  label: "Server strategy",
  hint: "What the portal does with the decrypted sum of the updates: average it, or take it as the step of a server optimiser whose state carries over to the next round.",
  choices: {
    fedavg: "FedAvg (the average)",
    fedavgm: "FedAvgM (server momentum)",
    fedadam: "FedAdam",
    fedyogi: "FedYogi",
    fedadagrad: "FedAdagrad",
  },
};

export const SERVER_LR = {
  label: "Server learning rate",
  hint: "The server optimiser's step size (eta; server_lr for FedAvgM). Empty: its default.",
};

/** The hyperparameter a strategy's server learning rate sets. */
export function serverLrParameter(strategy) {
  return strategy === "fedavgm" ? "server_lr" : "eta";
}

/**
 * The training settings: `proofOnly` ones mean nothing without proofs of training and `fixedHeadOnly` ones
 * nothing without the fixed-point head (loss mse_onehot), so the form hides them then.
 */
export const CONFIG_FIELDS = {
  loss: {
    label: "Loss function",
    hint: "Squared error on one-hot labels trains the exact fixed-point classifier head that proofs of training need.",
    choices: { mse_onehot: "Squared error (provable)", cross_entropy: "Cross-entropy (not provable)" },
  },
  optimiser: {
    label: "Optimiser",
    hint: "Trains the network body (and, with cross-entropy, the head too).",
    choices: { sgd: "SGD", adam: "Adam" },
  },
  lr: { label: "Learning rate", hint: "The optimiser's step size for the network body, e.g. 0.001." },
  head_lr: {
    label: "Head learning rate",
    hint: "Step size of the fixed-point classifier head; rounded to a multiple of 2⁻¹⁶.",
    fixedHeadOnly: true,
  },
  local_epochs: { label: "Local epochs", hint: "Passes over each hospital's own images per round." },
  batch_size: { label: "Batch size", hint: "Images per training step; with proofs of training, 8 or 16." },
  fedprox_mu: {
    label: "FedProx strength (μ)",
    hint: "Keeps local training close to the global model; 0 is plain federated averaging.",
  },
  augment: {
    label: "Augmentation",
    hint: "Shifted copies of each image, drawn anew every epoch, so the model does not learn where things sit.",
    choices: { none: "None", shift: "Shift by up to 2 pixels" },
  },
  sampling: {
    label: "Class sampling",
    hint: "Balanced draws every class equally often at each hospital, so a rare class is not drowned out.",
    choices: { proportional: "As the data holds them", balanced: "Balanced" },
  },
  proof_steps: {
    label: "Proofs per hospital",
    hint: "Proofs checked, each of a few consecutive training steps (4 for a two-class head), picked at random; more catch more cheating but take longer to prove. With every step proven: how many of the proofs the chain verifies itself.",
    proofOnly: true,
  },
  prove_every_step: {
    label: "Prove every step",
    hint: "Each hospital proves every training step of the head, so no forged step can pass; about 35 s for an epoch of 1,570 images with the native prover.",
    proofOnly: true,
  },
};

export function configLabel(name) {
  return CONFIG_FIELDS[name]?.label ?? humanize(name);
}

/** The words for one choice of a setting; a choice this version does not know keeps its name. */
export function choiceLabel(choices, value) {
  return choices?.[value] ?? humanize(value);
}

export function protectionLabel(value) {
  return value ? choiceLabel(PROTECTION.choices, value) : "—";
}

/** Whether a training setting applies to the plan as chosen so far. */
export function configFieldApplies(name, { proofScheme, loss }) {
  const field = CONFIG_FIELDS[name];
  if (field?.proofOnly && proofScheme === "none") return false;
  if (field?.fixedHeadOnly && loss && loss !== "mse_onehot") return false;
  return true;
}

/** An API field name ("config.lr", "quorum") in words, for messages that list fields. */
export function fieldLabel(name) {
  const [first, second] = name.split(".");
  if (first === "config" && second) return configLabel(second);
  if (first === "protection") return PROTECTION.label;
  if (first === "proof_scheme") return PROOF_SCHEME.label;
  return humanize(name.split(".").pop());
}
