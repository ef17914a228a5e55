"""The shared clips the edit tests use (read from ../shared/data, never copied into the repo)."""

# every shared talking-face clip with a full face in view: MEAD 1080p front takes, LRS3 224²
# faces, 512²/480² phone-style clips, a 1280x720 landscape clip
SHARED_CLIPS = ("mead/M003_level_1_happy_024.mp4", "mead/M026_level_3_disgusted_018.mp4",
                "mead/M030_level_3_angry_016.mp4", "mead/W015_level_1_neutral_030.mp4",
                "mead/W036_level_3_happy_007.mp4", "wild/0Fi83BHQsMA_00002.mp4",
                "wild/OzA6jRYjVQs_00004.mp4", "wild/d12.mp4", "wild/d20.mp4", "wild/s18.mp4")

# key -> (clip, seconds kept for the edit tests; None = whole clip)
EDIT_CLIPS = {
    "M003": (SHARED_CLIPS[0], 1.6), "M026": (SHARED_CLIPS[1], 1.6), "M030": (SHARED_CLIPS[2], 1.6),
    "W015": (SHARED_CLIPS[3], 1.6), "W036": (SHARED_CLIPS[4], 1.6),
    "0Fi83": (SHARED_CLIPS[5], None), "OzA6": (SHARED_CLIPS[6], None),
    "d12": (SHARED_CLIPS[7], 1.6), "d20": (SHARED_CLIPS[8], 1.6), "s18": (SHARED_CLIPS[9], 1.6),
}
