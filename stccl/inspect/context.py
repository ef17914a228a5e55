"""What one `stccl inspect` run carries from step to step (Context) and what it returns
(InspectSummary)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..config import TrackConfig

if TYPE_CHECKING:
    from ..models.correlation import CorrelationMetric, MetricConfig

Progress = Callable[[int, int], None]


@dataclass
class InspectSummary:
    """What `inspect_correlations` drew and where."""

    out: Path
    kind: str  # "png" | "mp4" | "retrieval" (a .png)
    panels: list[str]  # input, disparity, weights | weights-off, match, second, temporal
    untrained: bool
    metric: str  # the metric line shown on the picture
    stage: int
    map_size: tuple[int, int]  # (h, w) of the stage-L feature map
    frames: int  # INPUT's frame count (1 for an image)
    frame: int | None = None  # INPUT's frame (PNG)
    second_frame: int | None = None
    strip: list[int] = field(default_factory=list)  # frames of the temporal strip (PNG)
    frames_written: int = 0  # mp4
    size: tuple[int, int] = (0, 0)  # (width, height) of the picture / video
    stats: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # (min, mean, max)
    retrieval: dict[str, float] = field(default_factory=dict)  # --retrieval: retrieval@1, chance, pos, neg

    def describe(self) -> str:
        """One line for people: where it went and what it shows."""
        status = "UNTRAINED metric" if self.untrained else "trained metric"
        if self.kind == "retrieval":
            r = self.retrieval
            scores = (f"retrieval@1 {r['retrieval@1']:.3f}, centred {r['retrieval@1_centred']:.3f} "
                      f"(chance {r['retrieval_chance']:.3f}), "
                      f"pos {r['pos']:.3f}, neg {r['neg']:.3f}" if r else "no frame to score")
            return (f"wrote {self.out} ({self.size[0]}x{self.size[1]}): similarity matrix of "
                    f"{self.map_size[0]}x{self.map_size[1]} frames; {scores}; {status}")
        if self.kind == "mp4":
            what = f"{self.frames_written} frames of crop | spatial | temporal disparity"
        else:
            second = f", vs second frame {self.second_frame}" if self.second_frame is not None else ""
            what = f"frame {self.frame}{second}: {', '.join(self.panels)}"
        return f"wrote {self.out} ({self.size[0]}x{self.size[1]}): {what}; stage {self.stage}, {status}"


@dataclass
class Context:
    """The metric, the tracker and the progress count of one run."""

    metric: CorrelationMetric
    cfg: MetricConfig
    label: str
    untrained: bool
    stage: int
    device: str
    backend: object
    track: TrackConfig
    progress: Progress | None
    done: int = 0
    total: int = 1
    window: int | None = None  # the window the metric was trained on, when its file says
    overwrite: bool = False  # the output may replace an existing file

    def tick(self, n: int = 1) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(min(self.done, self.total), self.total)
