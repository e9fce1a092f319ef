"""The answer for long media, identified in the background (`identify_media` tasks).

A mix, a video or a podcast holds many songs, so besides the chosen product's own
result the answer lists every segment heard, in media order, and a summary: how much
of the media is catalog music, and what each product would say of it, so one scan
answers every licensing question a client may have.
"""

from __future__ import annotations

from gen.models import ApiType, IdentifyTaskResult, MediaSummary, Verdict
from lib.analysis import Analysis, Identified
from lib.products.routes import ROUTES, route_req
from lib.products.rules import qualifying, song


def long_media_result(analysis: Analysis, api_type: str) -> IdentifyTaskResult:
    heard = qualifying(analysis, "dn")  # every segment over the engine's threshold
    return IdentifyTaskResult(
        api_type=ApiType(api_type),
        result=route_req(api_type, analysis),
        segments=[song(f, analysis) for f in heard],
        summary=_summary(analysis, heard),
    )


def _summary(analysis: Analysis, heard: list[Identified]) -> MediaSummary:
    matched = _covered([(f.match.query_start, f.match.query_end) for f in heard])
    results = {api_type: process(analysis) for api_type, process in ROUTES.items()}
    any_result = next(iter(results.values()))  # every product reports what was heard alike
    return MediaSummary(
        media_seconds=any_result.media_seconds,
        analysed_seconds=any_result.analysed_seconds,
        status=any_result.status,
        reason=any_result.reason,
        matched_seconds=round(matched, 3),
        music_share=round(min(matched / analysis.seconds, 1.0), 4),
        verdicts=[
            Verdict(api_type=ApiType(api_type), cleared=result.cleared, songs=len(result.songs))
            for api_type, result in results.items()
        ],
    )


def _covered(spans: list[tuple[float, float]]) -> float:
    """Seconds inside at least one span: a cross-fade's two songs count once."""
    total, reached = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reached:
            total += end - max(start, reached)
            reached = end
    return total
