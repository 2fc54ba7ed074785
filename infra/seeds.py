"""Named random streams: the one list of every seeded draw a cell (or a reference build) makes.

Each stream maps (cell seed s, index k) to the integer seed of its generator,

    seed = scale * s + offset + k,   0 <= k < width,

(`Stream.seed`), or, for `HASHED` streams, a 63-bit hash of (s, name, indices) (`hashed_seed`). The
values are the offsets the code used before this list existed (+7,000, +20,000, 2s + 10,001, ...),
so every number it produced is unchanged. `coinciding_pairs` finds the pairs of streams that hand
out the same seed within one cell; `SHARED` lists the pairs that do today, each with the first cell
seed where it happens and why it is left so (tests/test_seeds.py fails on any pair not listed).
Network initialisation (`solvers.networks.seeded`) seeds torch's global generator, the same
Mersenne twister `problems.make_generator` seeds, so it is a stream like the others.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Stream:
    """A named seeded stream: seed(s, k) = scale * s + offset + k for 0 <= k < width."""

    name: str
    offset: int
    scale: int = 1
    width: int = 1
    what: str = ""

    def seed(self, cell_seed: int, index: int = 0) -> int:
        """The generator seed of this stream for cell seed `cell_seed` at `index` (snapshot k, iteration i)."""
        if not 0 <= index < self.width:
            raise ValueError(f"stream {self.name!r} has indices 0..{self.width - 1}, got {index}")
        return self.scale * int(cell_seed) + self.offset + int(index)


STREAMS: dict[str, Stream] = {}


def _stream(name: str, offset: int, scale: int = 1, width: int = 1, what: str = "") -> Stream:
    if name in STREAMS:
        raise ValueError(f"stream {name!r} declared twice")
    STREAMS[name] = Stream(name, offset, scale, width, what)
    return STREAMS[name]


#: iterations a training stream may index (seed * 2**32 + iteration)
TRAINING_WIDTH = 2**32

INITIAL_PARTICLES = _stream("initial_particles", 0, what="a solver's N initial particles, problem.sample(n, s)")
SBP_SCORE_NET = _stream("sbp_score_net", 0, what="sbp's score-net initial weights")
SBP_RANDOM_BATCH = _stream("sbp_random_batch", 7_000, what="sbp's random-batch partitions")
PINN_FLOW_NET = _stream("pinn_flow_net", 0, what="PINN-PM's flow-map initial weights")
PINN_SCORE_NET = _stream("pinn_score_net", 1, what="PINN-PM's score-net initial weights")
PINN_TRAINING = _stream("pinn_training", 0, scale=2**32, width=TRAINING_WIDTH,
                        what="PINN-PM iteration i: its particles from f0 and collocation times")
PINN_FIXED_BATCH = _stream("pinn_fixed_batch", 90_000, what="PINN-PM's one batch when resample=false")
PINN_DENSITY = _stream("pinn_density", 50_000, what="the n_density samples of f0 pushed through Phi")
PINN_QUERY = _stream("pinn_query", 60_000, what="the 10^5 points of the query-time measurement")
W1_FLOOR_A = _stream("w1_floor_a", 10_001, scale=2, what="first exact sample of the W1 Monte Carlo floor")
W1_FLOOR_B = _stream("w1_floor_b", 10_002, scale=2, what="second exact sample of the W1 Monte Carlo floor")
KDE_FLOOR = _stream("kde_floor", 20_000, what="exact sample of the KDE L2 Monte Carlo floor")
W1_REFERENCE = _stream("w1_reference", 30_000, what="exact (reference) sample a solver's W1 is measured against")
W1_SUBSAMPLE = _stream("w1_subsample", 0, what="subsample choice of W1 above 4,000 points a side")
CERT_REFERENCE = _stream("certificate_reference", 31_000, width=10_000,
                         what="certificates: exact sample at grid time k for W1(f_t, f~_t)")
CERT_POPULATION = _stream("certificate_population", 41_000, width=9_000,
                          what="certificates: fresh exact samples at grid time k for the population score error")
CERT_LEMMA2 = _stream("certificate_lemma2", 51_000, width=9_000,
                      what="certificates: Lemma 2's Monte Carlo samples at grid time k")
CERT_BALL = _stream("certificate_ball", 71_000, what="certificates: uniform points of the ball |v| <= R")
CERT_W1_SUBSAMPLE = _stream("certificate_w1_subsample", 0, what="certificates: W1 subsample choice")
DIAGNOSIS_SAMPLES = _stream("diagnosis_samples", 81_000, width=9_000,
                            what="training diagnostics: exact (reference) samples at snapshot k")
CORE_MASS_REFERENCE = _stream("core_mass_reference", 110_000,
                              what="reference sample the core-mass fraction is measured against")
REGION_NULL = _stream("region_null", 120_000, scale=2, width=2,
                      what="region masses' null law: binomial counts of the core (index 0) and HDR (1) regions")
NULL_BAND = _stream("null_band", 150_000, scale=0,
                    what="report: resampling a floor distribution's draws for the band of a mean over K seeds")
PAIRWISE_COLLISION = _stream("pairwise_collision", 160_000,
                             what="pairwise_collision: its random matchings and deflection angles, every step in order")
RBM_BLOB_BATCHES = _stream("rbm_blob_batches", 170_000,
                           what="rbm_blob's random batches: one generator a cell, one permutation a step")
SLICED_PROJECTIONS = _stream("sliced_projections", 180_000,
                             what="sliced W1: its projection directions (cell seed s; the floor's pair r: seed r)")
NEURAL_FLOW_NET = _stream("neural_flow_net", 190_000, what="neural_flow's velocity-network initial weights")
NEURAL_FLOW_TRAINING = _stream("neural_flow_training", 200_000, width=200_000,
                               what="neural_flow iteration i: its training particles from f0")
AP_FRESH = _stream("a_posteriori_fresh", 500_000, width=3,
                   what="a-posteriori certificates: f0 samples: pushed for the observed W2 (0), pushed for coupling and moments (1), the Gelbrich floor (2)")
AP_REFERENCE = _stream("a_posteriori_reference", 510_000, width=100,
                       what="a-posteriori certificates: samples of f_t for the observed W2 (2k) and its floor (2k+1), "
                            "for the radial lower bound (50 + 2k) and its floor (51 + 2k)")
AP_PARTICLE = _stream("a_posteriori_particle", 530_000, width=4,
                      what="a-posteriori certificates of particle methods: samples of the mollified density for the "
                           "residual (0), the observed W2 (1) and the Gelbrich bound (2)")
SEED_W2_BATCHES = _stream("seed_w2_batches", 550_000, scale=0, width=2,
                          what="report: the batches of the W2 between two seeds' clouds (run A: 0, run B: 1)")
EMPIRICAL_RATE = _stream("empirical_rate", 560_000,
                         what="the empirical contraction rate: the direction of the perturbation of the initial particles")
SDE_INITIAL = _stream("sde_reference_initial", 424_242, scale=0, what="SDE reference: its paths' initial points")
SDE_NOISE = _stream("sde_reference_noise", 424_243, scale=0, what="SDE reference: its Brownian increments")

#: streams seeded by a hash of (cell seed, name, indices) instead of an offset
HASHED = {"ism_samples": "PINN-PM score_samples=exact: exact samples at iteration i, collocation time k"}

#: the largest cell seed whose streams stay apart (but for SHARED): at 9,998 the W1 floor's second sample
#: (2s + 10,002) meets the KDE floor's (s + 20,000); the CLI refuses larger seeds
MAX_CELL_SEED = 9_997

#: pairs of streams that hand out one seed within a cell today, and why each is left so: changing any of them
#: changes published numbers, which is a decision of its own (tests/test_seeds.py fails on a pair not listed)
SHARED: dict[frozenset, str] = {frozenset(pair): why for pair, why in {
    ("initial_particles", "sbp_score_net"): "one solver's particles and its weights: normal values vs uniform weights",
    ("initial_particles", "pinn_flow_net"): "one solver's particles and its weights: normal values vs uniform weights",
    ("sbp_score_net", "pinn_flow_net"): "two solvers' weights: never in one cell",
    ("initial_particles", "w1_subsample"): "a permutation of indices, not values",
    ("initial_particles", "certificate_w1_subsample"): "a permutation of indices, not values",
    ("w1_subsample", "certificate_w1_subsample"): "permutations of different sets",
    ("sbp_score_net", "w1_subsample"): "a permutation of indices, not values",
    ("sbp_score_net", "certificate_w1_subsample"): "a permutation of indices, not values",
    ("pinn_flow_net", "w1_subsample"): "a permutation of indices, not values",
    ("pinn_flow_net", "certificate_w1_subsample"): "a permutation of indices, not values",
}.items()}
#: seed 0 only: training iteration i draws with seed 2^32 s + i = i, so with every stream whose seed is below
#: the budget; iteration 0 seeds its batch as the P1 initial particles pinn_pm is evaluated on are seeded (not the
#: same points: the samplers' draws depend on n; sample(500, 0) and sample(1000, 0)[:500] differ on every problem)
TRAINING_AT_SEED_0 = "pinn_training"


def hashed_seed(cell_seed: int, name: str, *index: int) -> int:
    """The seed of the hashed stream `name` (one of HASHED) at `index`: the first 63 bits of
    sha256([cell seed, name, index]), so hashed streams of different names never share draws."""
    if name not in HASHED:
        raise ValueError(f"unknown hashed stream {name!r}; known: {', '.join(sorted(HASHED))}")
    blob = json.dumps([int(cell_seed), name, [int(i) for i in index]]).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "big") >> 1


def first_shared_seed(a: Stream, b: Stream, width_a: int | None = None, width_b: int | None = None) -> int | None:
    """The smallest cell seed s >= 0 at which streams a and b hand out a common seed, or None if they never do:
    the least integer s with a.scale s + a.offset + [0, w_a) and b.scale s + b.offset + [0, w_b) overlapping,
    solved exactly (two linear inequalities in s)."""
    wa, wb = width_a or a.width, width_b or b.width
    c = a.scale - b.scale
    if c == 0:
        return 0 if a.offset < b.offset + wb and b.offset < a.offset + wa else None
    if c < 0:
        return first_shared_seed(b, a, wb, wa)

    lo = max(0, _ceil_div(b.offset - a.offset - wa + 1, c))
    hi = (b.offset + wb - a.offset - 1) // c
    return lo if lo <= hi else None


def _ceil_div(p: int, q: int) -> int:
    return -((-p) // q)


def coinciding_pairs(widths: dict[str, int] | None = None) -> dict[frozenset, int]:
    """{pair of stream names: first cell seed at which the two hand out a common seed} over every pair of
    offset streams that ever do; `widths` narrows a stream's index range (a training budget)."""
    widths = widths or {}
    streams = list(STREAMS.values())
    out = {}
    for i, a in enumerate(streams):
        for b in streams[i + 1:]:
            s = first_shared_seed(a, b, widths.get(a.name), widths.get(b.name))
            if s is not None:
                out[frozenset((a.name, b.name))] = s
    return out
