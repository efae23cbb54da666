import numpy as np
import pytest

from engine.errors import VitrineError
from engine.media.frames import FrameSource, Region, load_frame, parse_spec
from tests.fixtures.media import index_of


def test_image_reads_as_rgb(media_dir):
    f = load_frame(str(media_dir / "look.png"))
    assert f.rgb.shape == (90, 120, 3) and f.rgb.dtype == np.uint8
    assert tuple(f.rgb[5, 5]) == (200, 30, 30)           # RGB order, not OpenCV's BGR
    assert f.index == 0 and f.timestamp is None


def test_video_seek_by_time_and_index_is_frame_accurate(media_dir):
    with FrameSource(str(media_dir / "clip.mp4")) as src:
        assert src.kind == "video" and src.frame_count == 50 and src.fps == pytest.approx(25)
        for i in (0, 1, 17, 30, 49, 3):                  # forward and backward seeks
            assert index_of(src.read(index=i).rgb) == i
        f = src.read(at=1.2)
        assert f.index == 30 and f.timestamp == pytest.approx(1.2) and index_of(f.rgb) == 30


def test_video_step_forward_and_back(media_dir):
    with FrameSource(str(media_dir / "clip.mp4")) as src:
        src.read(index=10)
        assert index_of(src.step(1).rgb) == 11
        assert index_of(src.step(-3).rgb) == 8
        assert index_of(src.next().rgb) == 9


def test_spec_with_time_or_frame(media_dir):
    assert parse_spec("clip.mp4@12.5") == ("clip.mp4", 12.5, None)
    assert parse_spec("clip.mp4#300") == ("clip.mp4", None, 300)
    assert index_of(load_frame(f"{media_dir}/clip.mp4@0.4").rgb) == 10
    assert index_of(load_frame(f"{media_dir}/clip.mp4#42").rgb) == 42


def test_time_past_end_says_how_long_the_video_is(media_dir):
    with pytest.raises(VitrineError, match=r"past the end .*2\.00 s long"):
        load_frame(f"{media_dir}/clip.mp4@12.5")


def test_crop_box(media_dir):
    f = load_frame(str(media_dir / "look.png"), box="0,45,60,45")
    assert f.rgb.shape == (45, 60, 3) and f.region == Region(0, 45, 60, 45)
    assert tuple(f.rgb[10, 10]) == (20, 30, 120)
    assert f.key != load_frame(str(media_dir / "look.png")).key


@pytest.mark.parametrize("box", ["1,2,3", "a,b,c,d", "0,0,-5,10", "0,0,0,0"])
def test_bad_box_is_explained(box):
    with pytest.raises(VitrineError, match="box"):
        Region.parse(box)


def test_box_outside_frame(media_dir):
    with pytest.raises(VitrineError, match="outside"):
        load_frame(str(media_dir / "look.png"), box="500,500,10,10")


def test_camera_is_any_opencv_source_and_missing_camera_is_explained(media_dir):
    with pytest.raises(VitrineError, match="no camera"):
        FrameSource("camera:9")
    # a live source may be a file or URL: the same code path reads a video as a stream
    with FrameSource(str(media_dir / "clip.mp4")) as src:
        frames = [src.next() for _ in range(3)]
    assert [index_of(f.rgb) for f in frames] == [0, 1, 2]


def test_same_pixels_same_key(media_dir):
    a = load_frame(str(media_dir / "look.png"))
    b = load_frame(str(media_dir / "look.png"))
    assert a.key == b.key
