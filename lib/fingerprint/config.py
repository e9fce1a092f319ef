"""The one configuration object every stage of the engine reads.

Keeping every tunable here (like Olaf's config struct) means a stage never invents a
constant of its own, and the store can tell when fingerprints were made with a layout
that no longer matches the code (see `layout_key`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class EngineConfig:
    """Parameters of the fingerprint pipeline; the defaults are what the benchmark measured.

    Why these values is recorded in docs/engine.md.
    """

    # audio: everything is resampled to this rate before analysis; 8 kHz keeps the band
    # that survives telephone lines and low-bitrate codecs, and makes decode + FFT cheap.
    sample_rate: int = 8000

    # spectrogram: a long window for pitch resolution, a 32 ms hop for time resolution.
    n_fft: int = 1024
    hop: int = 256

    # log-frequency axis: pitch shift becomes a vertical translation on it.
    f_min: float = 200.0
    bins_per_octave: int = 24
    n_bins: int = 100  # up to f_min * 2**(n_bins / bins_per_octave) ~ 3.6 kHz

    # peaks: a local maximum over this neighbourhood, ranked by prominence above the
    # local spectral envelope of the spectrogram plus a virtual noise floor this far
    # below the median frame power; the strongest `*_peaks_per_second` of each second
    # are kept.
    peak_time_radius: int = 3
    peak_freq_radius: int = 3
    envelope_bins: int = 25
    noise_floor_db: float = 10.0
    ref_peaks_per_second: float = 14.0
    query_peaks_per_second: float = 30.0
    silence_db: float = -60.0  # below the file's loudest frame: treated as silence
    silence_floor_db: float = -60.0  # absolute band power (full-scale sine: about +45 dB)

    # hashes: an anchor with pairs of its `fanout` strongest peaks in the target zone
    # (dt_min..dt_max frames later, within 2**(df_bits - 1) bins); see hashes.py.
    ref_fanout: int = 4
    query_fanout: int = 5
    dt_min: int = 1
    dt_max: int = 32
    f_bits: int = 7  # anchor log-frequency bin
    df_bits: int = 7  # signed log-frequency difference
    ratio_bits: int = 4  # dt1 / dt2
    span_bits: int = 6  # dt2 in log steps of span_step
    span_step: float = 0.1

    # query warps: the query is re-hashed under each (pitch shift, tempo factor) on this
    # grid, so the index stays unwarped and compact.
    pitch_range: float = 2.0  # in log bins (24 per octave: 2 bins = 1 semitone)
    pitch_step: float = 0.5
    tempo_range: float = 0.06
    tempo_step: float = 0.03
    # the wide search, when the grid above finds nothing: a speed line (pitch and tempo
    # change together, as in sped-up and slowed edits or a DJ's pitch fader) from
    # speed_min to speed_max, and a pitch-only line (key-shifted re-uploads) out to
    # ±wide_pitch_range log bins; both at the grid's pitch step (match.py).
    speed_min: float = 0.8
    speed_max: float = 1.3
    wide_pitch_range: float = 5.0

    # look-ups: a hash with more entries than this is left out of the first pass over the
    # index (match.py's `search`), which then probes only the grid's seeds and only
    # finds candidates; their evidence is then counted in full. In memory only when the
    # probes meet more than this many entries each on average (catalogs of hundreds of
    # hours; docs/engine.md, "Catalog scale").
    query_hash_cap: int = 8

    # matching: hits are grouped by (warp, reference offset) in bins of this many frames.
    offset_bin: int = 4
    min_aligned: int = 6
    min_score: float = 50.0

    @property
    def hash_bits(self) -> int:
        return self.f_bits + 2 * self.df_bits + self.ratio_bits + self.span_bits

    @property
    def span_origin(self) -> int:
        return math.floor(math.log(self.dt_min) / math.log1p(self.span_step))

    @property
    def frame_seconds(self) -> float:
        return self.hop / self.sample_rate

    @property
    def pitch_shifts(self) -> list[float]:
        """Pitch hypotheses in log bins, from -pitch_range to +pitch_range."""
        n = round(self.pitch_range / self.pitch_step)
        return [k * self.pitch_step for k in range(-n, n + 1)]

    @property
    def tempo_factors(self) -> list[float]:
        n = round(self.tempo_range / self.tempo_step)
        return [1.0 + k * self.tempo_step for k in range(-n, n + 1)]

    def pitch_factor(self, shift_bins: float) -> float:
        """Frequency ratio query/reference for a shift of `shift_bins` log bins."""
        return float(2.0 ** (shift_bins / self.bins_per_octave))

    @property
    def f_max(self) -> float:
        return self.f_min * 2.0 ** (self.n_bins / self.bins_per_octave)

    def layout_key(self) -> str:
        """Identifies every parameter that changes the stored reference hashes."""
        query_side = ("query_", "pitch_", "tempo_", "offset_", "min_", "speed_", "wide_")
        stored = {k: v for k, v in asdict(self).items() if not k.startswith(query_side)}
        return ";".join(f"{k}={v}" for k, v in sorted(stored.items()))

    def __post_init__(self) -> None:
        if self.f_max >= self.sample_rate / 2:
            raise ValueError("log-frequency axis reaches past Nyquist; lower n_bins")
        if self.hash_bits > 32:
            raise ValueError("hash fields exceed 32 bits")
        top_span = math.log(self.dt_max * (1 + self.tempo_range)) / math.log1p(self.span_step)
        if top_span - self.span_origin >= 2**self.span_bits:
            raise ValueError("span_bits too small for dt_max")
        if self.n_bins > 2**self.f_bits:
            raise ValueError("f_bits too small for n_bins")
        if not math.isclose(self.pitch_range % self.pitch_step, 0.0, abs_tol=1e-9):
            raise ValueError("pitch_range must be a multiple of pitch_step")


DEFAULT = EngineConfig()
