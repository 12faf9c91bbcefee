import pytest

from datamodules.bmd_regions import CHALLENGE_REGIONS, ColumnBlock, column_blocks, region_files
from scoring.layout import MINI_TRACK_ROIS


def test_challenge_regions_map_to_both_hemispheres_and_both_parts():
    assert tuple(CHALLENGE_REGIONS) == MINI_TRACK_ROIS
    assert region_files("V1") == ("lV1v", "lV1d", "rV1v", "rV1d")
    assert region_files("V3") == ("lV3v", "lV3d", "rV3v", "rV3d")
    assert region_files("V4") == ("lhV4", "rhV4")
    assert region_files("EBA") == ("lEBA", "rEBA")
    assert region_files("PPA") == ("lPPA", "rPPA")


def test_bmd_names():
    assert region_files("V1v") == ("lV1v", "rV1v")
    assert region_files("OFA") == ("lOFA", "rOFA")
    assert region_files("IPS1-2-3") == ("lIPS1-2-3", "rIPS1-2-3")
    assert region_files("lEBA") == ("lEBA",)
    assert region_files("rhV4") == ("rhV4",)
    assert region_files("BMDgeneral") == ("BMDgeneral",)
    assert region_files("WB") == ("WB",)


@pytest.mark.parametrize("name", ["V5", "eba", "xEBA", "lV1", "", "lBMDgeneral"])
def test_unknown_names_are_refused_listing_the_known_ones(name):
    with pytest.raises(ValueError, match=f"unknown BMD region '{name}'.*V1, V2.*BMDgeneral"):
        region_files(name)


def test_column_blocks_follow_the_documented_order_and_skip_absent_files():
    counts = {"rV1d": 4, "lV1v": 2, "rV1v": 3, "lV1d": 5, "lEBA": 7}
    assert column_blocks("V1", counts) == [
        ColumnBlock("lV1v", 0, 2),
        ColumnBlock("lV1d", 2, 7),
        ColumnBlock("rV1v", 7, 10),
        ColumnBlock("rV1d", 10, 14),
    ]
    # rEBA is absent: EBA is the left hemisphere alone.
    assert column_blocks("EBA", counts) == [ColumnBlock("lEBA", 0, 7)]
    assert column_blocks("V1", counts)[1].as_json() == {"file": "lV1d", "start": 2, "stop": 7}
    with pytest.raises(ValueError, match="region 'FFA' needs one of the files roi-lFFA, roi-rFFA"):
        column_blocks("FFA", counts)
