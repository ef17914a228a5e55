"""`stccl inspect`: pictures of the correlation metric's patch correlations.

For one frame of INPUT (a video, an image or a prepared clip) the stage-L feature map F of the
metric's backbone gives, over the aligned face crop:

1. disparity: for every interior position p, the mean over its 8 neighbours q of ||F(p) - F(q)||;
2. adaptive weights: the metric's `adaptive_weights` rule, averaged over those 8 disparities;
3. match (with SECOND, the same content in another emotion): the mean over the 8 neighbours of
   the cosine between INPUT's and SECOND's projected (spatial_proj[L-1]), L2-normalised
   disparities - what the spatial PatchNCE loss pulls together;
4. temporal (video or prepared clip): ||F_t(x) - F_t+1(x)|| at every position x, on a strip of
   frames around the chosen one, with its mean over the map plotted along time.

SECOND's frame is the one at the same relative time: round(N * len2 / len1).
`-o x.mp4` writes a video instead: one output frame per input frame, crop | spatial disparity |
temporal disparity. See docs/inspect.md.

The files: `run` (the entry point), `sources` (the inputs), `metric` (loading it, its features),
`maps` (the torch maps), `picture` and `page` (a .png), `video` (a .mp4), `context` (a run's
state and summary); the drawing primitives are in `stccl.draw`. Names are imported lazily, so
that `import stccl.inspect` does not import torch.
"""

from importlib import import_module

# public name -> the file it lives in, imported on first use
_HOME = {
    "InspectSummary": "context", "Progress": "context",
    "disparity_map": "maps", "interior_centers": "maps", "match_map": "maps",
    "temporal_map": "maps", "weight_map": "maps",
    "load_inspect_metric": "metric", "stage_features": "metric",
    "weight_range": "page",
    "second_frame_for": "picture",
    "PICTURE_EXTENSIONS": "run", "inspect_correlations": "run",
    "Source": "sources",
}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    try:
        home = _HOME[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    return getattr(import_module(f"{__name__}.{home}"), name)
