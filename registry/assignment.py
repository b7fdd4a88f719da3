"""Subject -> variant: the per-turn decision (pure, seeded, versioned; pinned by golden vectors).

Algorithm (ASSIGNMENT_VERSION 1): weighted rendezvous hashing. For a subject s and each variant v with weight
w_v > 0, u_v = a uniform in (0, 1) from a keyed BLAKE2b digest of s (key = the registry's assignment_seed,
person = the version, salt = the variant's name); the variant with the lowest -ln(u_v) / w_v wins. Because
-ln(u_v) is exponential(1), variant v wins with probability w_v / sum(w), and:

* the same subject always gets the same variant for the same weights (sticky, deterministic);
* raising v's weight (the others not rising) lowers only v's score: v's subjects never move away;
* lowering v's weight (the others scaled up in proportion, as effective weights do) moves only subjects leaving v:
  the others' scores keep their order, so nobody moves between two other variants;
* u_v depends on the variant's name, not on its position, so adding a variant with weight 0 changes nothing.

Eligibility comes after the draw: an internal-only variant for an external subject, a deprecated variant, or a
subject whose SDK is older than the variant's min_sdk_version gets the baseline instead.

Performance: everything that depends only on the live state (weights per audience, inverse weights, keyed hash
states, eligibility sets) is built once per snapshot in `AssignmentTable`; the log-uniforms depend only on the
subject, so a `Subject` caches them across turns. A turn costs a few multiplications when the subject was seen.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from registry.compiled import ASSIGNMENT_VERSION, CompiledVariant
from registry.live_state import LiveState, effective_weights

_SDK_VERSION = re.compile(r"^\d+(\.\d+){0,3}$")
_TWO_POW_MINUS_53 = 2.0**-53
_log = math.log
SUPPORTED_VERSIONS = frozenset({1})


def parse_sdk_version(text: str | None) -> tuple[int, ...] | None:
    """'2.3' -> (2, 3, 0, 0); None stays None (an unknown SDK, older than any minimum). ValueError if malformed."""
    if text is None:
        return None
    text = text.strip()
    if not _SDK_VERSION.match(text):
        raise ValueError(f"sdk version {text!r} is not like 2.3.0")
    parts = tuple(int(p) for p in text.split("."))
    return parts + (0,) * (4 - len(parts))


def _hash_key(seed: str) -> bytes:
    raw = seed.encode()
    # BLAKE2b keys are at most 64 bytes; longer seeds are condensed (still deterministic).
    return raw if len(raw) <= 64 else hashlib.blake2b(raw, digest_size=32).digest()


def _variant_salt(variant: str) -> bytes:
    return hashlib.blake2b(variant.encode(), digest_size=16).digest()


def _person(version: int) -> bytes:
    return f"voice-assign-v{version}".encode()[:16]


def keyed_hasher(seed: str, version: int, variant: str) -> Any:
    """The BLAKE2b state for (seed, version, variant), ready to absorb a subject id (copy it, never mutate it)."""
    return hashlib.blake2b(key=_hash_key(seed), salt=_variant_salt(variant), person=_person(version), digest_size=8)


def log_uniform(hasher: Any, subject: bytes) -> float:
    """ln(u) for u uniform in (0, 1), from the subject's digest under one variant's hasher (always < 0)."""
    h = hasher.copy()
    h.update(subject)
    return math.log(((int.from_bytes(h.digest(), "little") >> 11) + 0.5) * _TWO_POW_MINUS_53)


def pick(seed: str, subject: str, weights: Mapping[str, float], *, version: int = ASSIGNMENT_VERSION) -> str | None:
    """The reference draw (slow, no precomputation): the winning variant, or None when no weight is positive.

    Ties (probability ~2^-53) go to the smaller variant name so the result never depends on dict order.
    """
    best: tuple[float, str] | None = None
    for variant in sorted(weights):
        weight = weights[variant]
        if weight <= 0:
            continue
        score = -log_uniform(keyed_hasher(seed, version, variant), subject.encode()) / weight
        if best is None or score < best[0]:
            best = (score, variant)
    return best[1] if best else None


class Subject:
    """A caller as the runtime knows it for a whole session; caches its log-uniforms across turns.

    A plain slotted class (not a dataclass or pydantic model): it is built once per session and read every turn.
    """

    __slots__ = ("_cache_owner", "_log_u", "id", "internal", "key", "sdk_version")

    def __init__(self, id: str, internal: bool = False, sdk_version: tuple[int, ...] | None = None) -> None:
        self.id = id
        self.internal = internal
        self.sdk_version = sdk_version
        self.key = id.encode()
        self._cache_owner: tuple[str, int] | None = None
        self._log_u: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"Subject({self.id!r}, internal={self.internal}, sdk_version={self.sdk_version})"

    @classmethod
    def of(cls, subject_id: str, *, internal: bool = False, sdk_version: str | None = None) -> Subject:
        """Build a subject from protocol fields (ValueError on a malformed sdk version)."""
        return cls(subject_id, internal, parse_sdk_version(sdk_version))


@dataclass(frozen=True)
class _Pool:
    """The candidates of one audience (external or internal): (variant, 1/weight, hasher), weight > 0 only."""

    entries: tuple[tuple[str, float, Any], ...]
    only: str | None  # set when a single variant has all the weight: no hashing at all


class AssignmentTable:
    """Everything the per-turn decision needs from one live-state snapshot, precomputed; `assign` is the hot path."""

    def __init__(
        self,
        *,
        baseline: str,
        seed: str,
        external: Mapping[str, float],
        internal: Mapping[str, float],
        variants: Mapping[str, CompiledVariant] | None = None,
        deprecated: frozenset[str] = frozenset(),
        version: int = ASSIGNMENT_VERSION,
    ) -> None:
        self.baseline = baseline
        self.seed = seed
        self.version = version
        self.variants: dict[str, CompiledVariant] = dict(variants or {})
        self.external_weights = dict(external)
        self.internal_weights = dict(internal)
        self._owner = (seed, version)
        self._hashers: dict[str, Any] = {}
        self._external = self._pool(external)
        self._internal = self._pool(internal)
        self._internal_only = frozenset(v for v, c in self.variants.items() if c.internal_only)
        self._dead = frozenset(v for v, c in self.variants.items() if c.deprecated) | deprecated
        self._min_sdk = {
            v: sdk for v, c in self.variants.items() if (sdk := parse_sdk_version(c.min_sdk_version)) is not None
        }

    def _pool(self, weights: Mapping[str, float]) -> _Pool:
        positive = sorted((v, w) for v, w in weights.items() if w > 0)
        if not positive:
            return _Pool((), self.baseline)
        if len(positive) == 1:
            return _Pool((), positive[0][0])
        entries = []
        for variant, weight in positive:
            hasher = self._hashers.get(variant)
            if hasher is None:
                hasher = self._hashers[variant] = keyed_hasher(self.seed, self.version, variant)
            entries.append((variant, 1.0 / weight, hasher))
        return _Pool(tuple(entries), None)

    @classmethod
    def from_state(cls, state: LiveState, *, fallback_baseline: str) -> AssignmentTable:
        """The table for a live state; without a registry every subject gets `fallback_baseline` (fail safe)."""
        reg = state.registry
        if reg is None:
            only = {fallback_baseline: 100.0}
            return cls(baseline=fallback_baseline, seed="none", external=only, internal=only)
        return cls(
            baseline=reg.baseline,
            seed=reg.assignment_seed,
            external=effective_weights(state, internal=False),
            internal=effective_weights(state, internal=True),
            variants=reg.variants,
            deprecated=state.deprecated,
            # A registry asking for an assignment version this runtime does not know keeps the known one: turns
            # must go on; the registry client reports the mismatch as a problem.
            version=reg.assignment_version if reg.assignment_version in SUPPORTED_VERSIONS else ASSIGNMENT_VERSION,
        )

    def draw(self, subject: Subject) -> str:
        """The weighted draw alone, before eligibility (the variant the weights give this subject)."""
        pool = self._internal if subject.internal else self._external
        if pool.only is not None:
            return pool.only
        if subject._cache_owner != self._owner:
            subject._cache_owner = self._owner
            subject._log_u = {}
        cache = subject._log_u
        best = self.baseline
        best_score = -math.inf
        for variant, inverse_weight, hasher in pool.entries:
            log_u = cache.get(variant)
            if log_u is None:
                h = hasher.copy()  # log_uniform inlined: this is the first turn of a session's hot path
                h.update(subject.key)
                log_u = cache[variant] = _log(((int.from_bytes(h.digest(), "little") >> 11) + 0.5) * _TWO_POW_MINUS_53)
            # ln(u)/w is the negated rendezvous score: the highest wins. Strict > keeps the smallest name on ties.
            score = log_u * inverse_weight
            if score > best_score:
                best_score = score
                best = variant
        return best

    def eligible(self, subject: Subject, variant: str) -> bool:
        """May `subject` be served by `variant` (internal-only, deprecated, minimum SDK)?"""
        if variant in self._dead or (variant in self._internal_only and not subject.internal):
            return False
        minimum = self._min_sdk.get(variant)
        return minimum is None or (subject.sdk_version is not None and subject.sdk_version >= minimum)

    def assign(self, subject: Subject) -> str:
        """The variant serving this subject's turn: the draw, or the baseline when the subject is not eligible."""
        variant = self.draw(subject)
        if variant == self.baseline or self.eligible(subject, variant):
            return variant
        return self.baseline

    def config(self, variant: str) -> CompiledVariant | None:
        """The compiled configuration of `variant` (None when the runtime never had a registry)."""
        return self.variants.get(variant)
