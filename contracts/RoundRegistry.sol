// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title RoundRegistry: the tamper-evident record of DecentraHealth's federated rounds.
/// @notice The coordinator registers hospitals and opens, closes or cancels rounds; a registered hospital records
/// its update's hash once per open round, with Groth16 proofs of its training steps that are verified here.
/// @dev The verifier is the `Groth16Verifier` that `snarkjs zkey export solidityverifier` generates for one circuit;
/// its `verifyProof` takes `uint256[N]` public signals with N fixed per circuit, so it is called with a selector built
/// from N (checked against the verifier at deployment) instead of through a Solidity interface.
/// Every proof's public `context` signal must be this contract's own computation from the round, the sender, the
/// round's model hash and the submission's run hash (the SHA-256 of the rest of the context: hospital, head, step
/// count, sample count and the portal's challenge), and a submission carries exactly the round's number of proofs;
/// so a proof made for another round, hospital or run is refused here, re-randomised or not. The head hashes and
/// the Merkle spot-check are checked off chain by the portal. In a round that proves every step, a hospital first
/// commits to its update and to the hash of every proof it made (`commit`); the proofs this contract verifies are
/// then drawn from the hash of the block that holds the commitment, which the hospital cannot know when it signs
/// (`proveSample`), so it cannot choose which proofs are checked; the published proofs are held to that hash.
contract RoundRegistry {
    enum RoundState {
        None,
        Open,
        Closed,
        Cancelled
    }

    struct Round {
        bytes32 modelHash;
        bytes32 configHash;
        bytes32 newModelHash;
        RoundState state;
        uint64 openedBlock;
        uint64 closedBlock;
        /// Proofs each submission carries (the round plan's spot-checks; 0 for a registry without a verifier).
        uint32 proofsPerSubmission;
        /// Every step proven: submissions commit first and their sample is drawn after (commit, proveSample).
        bool everyStep;
        address[] submitters;
        address[] participants;
    }

    struct Submission {
        bytes32 updateHash;
        /// keccak256 of the concatenated per-proof hashes, in submission order.
        bytes32 proofHash;
        /// The same hash over every proof the hospital made (with every step proven, the whole run's, committed
        /// before its sample was drawn; otherwise equal to proofHash).
        bytes32 allProofsHash;
        /// SHA-256 of the rest of the proofs' context (the run the hospital committed to and the challenge).
        bytes32 runHash;
        /// Proofs the hospital made (with every step proven, the whole run's; otherwise the ones verified here).
        uint32 proofCount;
        /// The block that recorded the submission (with every step proven, its commitment).
        uint64 blockNumber;
        /// Whether its proofs (or, with every step proven, its sample) have been verified here.
        bool verified;
        /// With every step proven, the hash of the commitment's block, kept once the sample is verified (the EVM
        /// forgets block hashes after 256 blocks; audits recompute the sample from it).
        bytes32 sampleSeed;
        /// Whether the round's closing aggregate included this submission.
        bool included;
    }

    /// One Groth16 proof as the verifier takes it (pi_b's coordinates already in the verifier's order).
    struct Proof {
        uint256[2] a;
        uint256[2][2] b;
        uint256[2] c;
        uint256[] publicSignals;
    }

    /// BN254's scalar field: public signals, and so the context, are its elements.
    uint256 public constant SNARK_SCALAR_FIELD =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    bytes32 public constant CONTEXT_TAG = keccak256("decentrahealth/zk/round-context/v2");

    address public immutable coordinator;
    address public immutable verifier;
    uint256 public immutable numPublicSignals;
    /// Gas handed to each verifyProof call. The snarkjs verifier answers false, not a revert, when a precompile
    /// runs out of gas, so a fixed budget (and a revert when it cannot be given) keeps "invalid" meaning invalid.
    uint256 public immutable verifyGas;
    /// Which public signal is the context: the circuit's last.
    uint256 public immutable contextIndex;
    bytes4 private immutable verifySelector;

    mapping(address => bool) public isHospital;
    mapping(uint256 => Round) private rounds;
    mapping(uint256 => mapping(address => Submission)) private submissions;
    /// Every proof ever accepted, by keccak256(abi.encode(a, b, c, publicSignals)).
    mapping(bytes32 => bool) public proofUsed;
    /// Statements (public signals) accepted per round: a re-randomised copy of a proof has a new proof hash but
    /// the same statement, so this keeps one hospital from passing off another's proof in the same round.
    mapping(uint256 => mapping(bytes32 => bool)) private statementUsed;

    event HospitalRegistered(address indexed hospital);
    event HospitalRevoked(address indexed hospital);
    event RoundOpened(uint256 indexed roundId, bytes32 modelHash, bytes32 configHash);
    event SubmissionCommitted(uint256 indexed roundId, address indexed hospital, bytes32 updateHash, bytes32 allProofsHash);
    event SubmissionRecorded(uint256 indexed roundId, address indexed hospital, bytes32 updateHash, bytes32 proofHash);
    event RoundClosed(uint256 indexed roundId, bytes32 newModelHash, address[] participants);
    event RoundCancelled(uint256 indexed roundId);

    modifier onlyCoordinator() {
        require(msg.sender == coordinator, "only the coordinator");
        _;
    }

    /// @param verifier_ the circuit's Groth16 verifier, or address(0) for a registry of rounds without proofs of
    /// training: its submissions record update hashes only and carry no proofs (numPublicSignals_ must be 0).
    constructor(address verifier_, uint256 numPublicSignals_, uint256 verifyGas_) {
        coordinator = msg.sender;
        verifier = verifier_;
        numPublicSignals = numPublicSignals_;
        verifyGas = verifyGas_;
        contextIndex = numPublicSignals_ == 0 ? 0 : numPublicSignals_ - 1;
        if (verifier_ == address(0)) {
            require(numPublicSignals_ == 0, "public signals without a verifier");
        } else {
            require(verifier_.code.length > 0, "verifier has no code");
            require(numPublicSignals_ > 0, "no public signals");
            verifySelector = bytes4(
                keccak256(
                    abi.encodePacked(
                        "verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[",
                        _decimal(numPublicSignals_),
                        "])"
                    )
                )
            );
            // A verifier for another number of public signals has another selector and no fallback: it reverts.
            (bool ok, bytes memory answer) = verifier_.staticcall{gas: verifyGas_}(
                abi.encodePacked(verifySelector, new uint256[](8 + numPublicSignals_))
            );
            require(ok && answer.length == 32, "verifier does not take this many public signals");
        }
    }

    function registerHospital(address hospital) external onlyCoordinator {
        require(hospital != address(0), "zero address");
        require(!isHospital[hospital], "hospital already registered");
        isHospital[hospital] = true;
        emit HospitalRegistered(hospital);
    }

    function revokeHospital(address hospital) external onlyCoordinator {
        require(isHospital[hospital], "not a registered hospital");
        isHospital[hospital] = false;
        emit HospitalRevoked(hospital);
    }

    /// @param proofsPerSubmission proofs verified here per submission (with everyStep, the sample's size)
    /// @param everyStep submissions prove every step: they commit first and are sampled after (commit, proveSample)
    function openRound(
        uint256 roundId,
        bytes32 modelHash,
        bytes32 configHash,
        uint32 proofsPerSubmission,
        bool everyStep
    ) external onlyCoordinator {
        Round storage round = rounds[roundId];
        require(round.state == RoundState.None, "round id already used");
        if (verifier == address(0)) {
            require(proofsPerSubmission == 0 && !everyStep, "this registry takes no proofs");
        } else {
            require(proofsPerSubmission > 0, "a round of this registry needs proofs");
        }
        round.proofsPerSubmission = proofsPerSubmission;
        round.everyStep = everyStep;
        round.modelHash = modelHash;
        round.configHash = configHash;
        round.state = RoundState.Open;
        round.openedBlock = uint64(block.number);
        emit RoundOpened(roundId, modelHash, configHash);
    }

    /// @notice Record the sender's update for an open round: exactly the round's number of proofs, each bound to
    /// this round, sender, model and run (`runHash`) and verifying, else the call reverts. Not for rounds that
    /// prove every step.
    function submit(uint256 roundId, bytes32 updateHash, bytes32 runHash, Proof[] calldata proofs) external {
        Round storage round = _openRoundOf(roundId);
        require(!round.everyStep, "this round proves every step: commit, then proveSample");
        Submission storage submission = _newSubmission(roundId);
        if (proofs.length != round.proofsPerSubmission) {
            revert(string.concat(
                "wrong number of proofs: ", _decimal(proofs.length), ", the round takes ", _decimal(round.proofsPerSubmission)
            ));
        }

        uint256 context = contextOf(roundId, msg.sender, round.modelHash, runHash);
        bytes32[] memory proofHashes = new bytes32[](proofs.length);
        for (uint256 i = 0; i < proofs.length; i++) {
            proofHashes[i] = _acceptProof(roundId, proofs[i], i, context);
        }
        bytes32 proofHash = keccak256(abi.encodePacked(proofHashes));

        submission.updateHash = updateHash;
        submission.proofHash = proofHash;
        submission.allProofsHash = proofHash;
        submission.runHash = runHash;
        submission.proofCount = uint32(proofs.length);
        submission.blockNumber = uint64(block.number);
        submission.verified = true;
        round.submitters.push(msg.sender);
        emit SubmissionRecorded(roundId, msg.sender, updateHash, proofHash);
    }

    /// @notice In a round that proves every step, commit the sender's update, its run and the hash of all its
    /// `proofCount` proofs (keccak256 of their proof hashes, in run order). The proofs verified here are drawn
    /// from this block's hash (`samplePositions`) and given to `proveSample` in a later block.
    function commit(uint256 roundId, bytes32 updateHash, bytes32 runHash, bytes32 allProofsHash, uint32 proofCount)
        external
    {
        Round storage round = _openRoundOf(roundId);
        require(round.everyStep, "this round does not prove every step: submit its proofs");
        Submission storage submission = _newSubmission(roundId);
        if (proofCount < round.proofsPerSubmission) {
            revert(string.concat(
                "too few proofs: ", _decimal(proofCount), ", the round samples ", _decimal(round.proofsPerSubmission)
            ));
        }
        submission.updateHash = updateHash;
        submission.allProofsHash = allProofsHash;
        submission.runHash = runHash;
        submission.proofCount = proofCount;
        submission.blockNumber = uint64(block.number);
        round.submitters.push(msg.sender);
        emit SubmissionCommitted(roundId, msg.sender, updateHash, allProofsHash);
    }

    /// @notice Verify the sample of the sender's committed proofs: `proofHashes` is the hash of each of its proofs
    /// in run order (together they must give the committed allProofsHash) and `proofs` the sampled ones, in the
    /// order of `samplePositions`. Must come within 256 blocks of the commitment (the EVM forgets older block
    /// hashes); a hospital that lets the window pass cannot be recorded in this round.
    function proveSample(uint256 roundId, bytes32[] calldata proofHashes, Proof[] calldata proofs) external {
        Round storage round = _openRoundOf(roundId);
        Submission storage submission = submissions[roundId][msg.sender];
        require(submission.blockNumber != 0, "nothing committed by this hospital in this round");
        require(!submission.verified, "sample already verified");
        require(proofHashes.length == submission.proofCount, "wrong number of proof hashes");
        require(
            keccak256(abi.encodePacked(proofHashes)) == submission.allProofsHash,
            "the proof hashes are not the committed ones"
        );
        uint256[] memory positions = samplePositions(roundId, msg.sender);
        require(proofs.length == positions.length, "wrong number of sampled proofs");

        uint256 context = contextOf(roundId, msg.sender, round.modelHash, submission.runHash);
        bytes32[] memory sampled = new bytes32[](proofs.length);
        for (uint256 i = 0; i < proofs.length; i++) {
            sampled[i] = _acceptProof(roundId, proofs[i], i, context);
            if (sampled[i] != proofHashes[positions[i]]) {
                revert(string.concat(
                    "proof ", _decimal(i), " is not the committed proof at sampled position ", _decimal(positions[i])
                ));
            }
        }
        submission.proofHash = keccak256(abi.encodePacked(sampled));
        submission.verified = true;
        submission.sampleSeed = blockhash(submission.blockNumber);
        emit SubmissionRecorded(roundId, msg.sender, submission.updateHash, submission.proofHash);
    }

    /// The positions (in run order, distinct) of the proofs that `proveSample` verifies for a committed submission:
    /// a partial Fisher-Yates shuffle seeded by the hash of the block that holds the commitment, the round and the
    /// hospital. Before the sample is verified, reverts until that block is sealed and once the EVM no longer
    /// knows its hash; after, answers from the kept hash.
    function samplePositions(uint256 roundId, address hospital) public view returns (uint256[] memory positions) {
        Submission storage submission = submissions[roundId][hospital];
        require(submission.blockNumber != 0, "nothing committed by this hospital in this round");
        bytes32 seed = submission.sampleSeed;
        if (seed == bytes32(0)) {
            require(block.number > submission.blockNumber, "the commitment's block is not sealed yet");
            seed = blockhash(submission.blockNumber);
            require(seed != bytes32(0), "the sample window (256 blocks after the commitment) has passed");
        }
        uint256 count = submission.proofCount;
        uint256[] memory order = new uint256[](count);
        for (uint256 i = 0; i < count; i++) {
            order[i] = i;
        }
        positions = new uint256[](rounds[roundId].proofsPerSubmission);
        for (uint256 i = 0; i < positions.length; i++) {
            uint256 j = i + uint256(keccak256(abi.encode(seed, roundId, hospital, i))) % (count - i);
            (order[i], order[j]) = (order[j], order[i]);
            positions[i] = order[i];
        }
    }

    /// @notice Close an open round with the aggregate's model hash and the hospitals whose updates it includes.
    function closeRound(uint256 roundId, bytes32 newModelHash, address[] calldata participants)
        external
        onlyCoordinator
    {
        Round storage round = rounds[roundId];
        require(round.state == RoundState.Open, "round is not open");
        require(participants.length > 0, "no participants");
        for (uint256 i = 0; i < participants.length; i++) {
            Submission storage submission = submissions[roundId][participants[i]];
            require(submission.blockNumber != 0, "participant did not submit in this round");
            require(submission.verified, "participant's sampled proofs are not verified");
            require(!submission.included, "participant listed twice");
            submission.included = true;
        }
        round.newModelHash = newModelHash;
        round.participants = participants;
        round.state = RoundState.Closed;
        round.closedBlock = uint64(block.number);
        emit RoundClosed(roundId, newModelHash, participants);
    }

    function cancelRound(uint256 roundId) external onlyCoordinator {
        Round storage round = rounds[roundId];
        require(round.state == RoundState.Open, "round is not open");
        round.state = RoundState.Cancelled;
        round.closedBlock = uint64(block.number);
        emit RoundCancelled(roundId);
    }

    function getRound(uint256 roundId)
        external
        view
        returns (
            bytes32 modelHash,
            bytes32 configHash,
            bytes32 newModelHash,
            RoundState state,
            uint64 openedBlock,
            uint64 closedBlock,
            uint32 proofsPerSubmission,
            bool everyStep,
            address[] memory submitters,
            address[] memory participants
        )
    {
        Round storage round = rounds[roundId];
        return (
            round.modelHash,
            round.configHash,
            round.newModelHash,
            round.state,
            round.openedBlock,
            round.closedBlock,
            round.proofsPerSubmission,
            round.everyStep,
            round.submitters,
            round.participants
        );
    }

    function getSubmission(uint256 roundId, address hospital) external view returns (Submission memory) {
        return submissions[roundId][hospital];
    }

    /// The context signal a proof for (round, hospital, run) must carry: keccak256 of the tagged tuple, mod p.
    function contextOf(uint256 roundId, address hospital, bytes32 modelHash, bytes32 runHash)
        public
        pure
        returns (uint256)
    {
        return uint256(keccak256(abi.encode(CONTEXT_TAG, roundId, hospital, modelHash, runHash))) % SNARK_SCALAR_FIELD;
    }

    function proofHashOf(Proof calldata proof) public pure returns (bytes32) {
        return keccak256(abi.encode(proof.a, proof.b, proof.c, proof.publicSignals));
    }

    function _openRoundOf(uint256 roundId) private view returns (Round storage round) {
        require(isHospital[msg.sender], "sender is not a registered hospital");
        round = rounds[roundId];
        require(round.state == RoundState.Open, "round is not open");
    }

    function _newSubmission(uint256 roundId) private view returns (Submission storage submission) {
        submission = submissions[roundId][msg.sender];
        require(submission.blockNumber == 0, "hospital already submitted in this round");
    }

    function _acceptProof(uint256 roundId, Proof calldata proof, uint256 index, uint256 context)
        private
        returns (bytes32 proofHash)
    {
        // Reasons are built only on failure: require's message argument would be evaluated on every call.
        if (proof.publicSignals.length != numPublicSignals) {
            revert(_indexed("wrong number of public signals in proof ", index));
        }
        if (proof.publicSignals[contextIndex] != context) {
            revert(_indexed("proof bound to another round, hospital, model or run: proof ", index));
        }
        proofHash = proofHashOf(proof);
        if (proofUsed[proofHash]) {
            revert(_indexed("replayed proof ", index));
        }
        bytes32 statement = keccak256(abi.encodePacked(proof.publicSignals));
        if (statementUsed[roundId][statement]) {
            revert(_indexed("statement already proven in this round, proof ", index));
        }
        // 63/64 of the remaining gas is all a call may forward (EIP-150): make sure the full budget fits.
        require(gasleft() > verifyGas + verifyGas / 63 + 10_000, "gas too low to verify the proofs");
        (bool ok, bytes memory answer) = verifier.staticcall{gas: verifyGas}(
            abi.encodePacked(verifySelector, proof.a, proof.b[0], proof.b[1], proof.c, proof.publicSignals)
        );
        require(ok && answer.length == 32, "verifier call failed");
        if (!abi.decode(answer, (bool))) {
            revert(_indexed("invalid proof ", index));
        }
        proofUsed[proofHash] = true;
        statementUsed[roundId][statement] = true;
    }

    function _indexed(string memory reason, uint256 index) private pure returns (string memory) {
        return string.concat(reason, _decimal(index));
    }

    function _decimal(uint256 value) private pure returns (string memory) {
        if (value == 0) {
            return "0";
        }
        uint256 digits;
        for (uint256 rest = value; rest != 0; rest /= 10) {
            digits++;
        }
        bytes memory text = new bytes(digits);
        for (; value != 0; value /= 10) {
            text[--digits] = bytes1(uint8(48 + (value % 10)));
        }
        return string(text);
    }
}
