"""`Editor` construction: explicit arguments override the config, others leave it as given."""

from stccl import Editor
from stccl.config import EditConfig, TrackConfig


def test_editor_keeps_the_given_config():
    cfg = EditConfig(engine="warp", device="cpu", track=TrackConfig(tracker="dlib", face=1))
    ed = Editor(config=cfg)
    assert ed.config.device == "cpu"
    assert ed.config.engine == "warp" and ed.engine.name == "warp"
    assert ed.config.track.tracker == "dlib" and ed.config.track.face == 1
    assert ed.notice is None


def test_editor_arguments_override_the_config():
    cfg = EditConfig(engine="neural", device="cuda", intensity=0.5,
                     track=TrackConfig(tracker="fan"))
    ed = Editor("warp", device="cpu", tracker="dlib", config=cfg, crf=20)
    assert (ed.config.engine, ed.config.device, ed.config.crf) == ("warp", "cpu", 20)
    assert ed.config.intensity == 0.5 and ed.config.track.tracker == "dlib"
    assert cfg.engine == "neural" and cfg.track.tracker == "fan"  # the caller's config is untouched
    assert ed.engine.name == "warp"


def test_editor_defaults():
    ed = Editor(engine="warp")
    assert ed.config.device == "auto" and ed.config.track.tracker == "auto"


def test_labels_are_absolute_unless_relative_is_asked():
    assert Editor(engine="warp").engine.expression is not None  # reads what the face shows
    assert Editor(engine="warp", relative=True).engine.expression is None
    assert Editor(engine="warp", config=EditConfig(relative=True)).engine.expression is None


def test_the_shown_label_names_the_mix_the_edit_removes():
    from stccl.edit.pipeline import EditSummary

    def label(**shown):
        return EditSummary("a.mp4", "b.mp4", "warp", "neutral", 1.0, shown=shown).shown_label

    assert label(happy=0.8, sad=0.1) == "happy 0.8"
    assert label(happy=0.37, sad=0.6, fear=0.3) == "sad 0.6 + happy 0.4"  # the two strongest
    assert label(happy=0.1, sad=0.2) == "neutral"
    assert EditSummary("a.mp4", "b.mp4", "neural", "happy", 1.0).shown_label == "-"
