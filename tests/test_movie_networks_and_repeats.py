"""Movies (issue 26): Schaefer networks read from the atlas's label table (else approximated, and
the logs say which), and the validation score normalised by repeated runs, labelled as such."""

import logging
import shutil

import numpy as np
import pytest

from datamodules.movies import atlas as movie_atlas
from datamodules.movies.files import MovieDataError, MovieRun
from datamodules.movies.module import MovieDataModule
from lightning_modules.movie_ridge import MovieRidge
from lightning_modules.movie_scores import NORMALISED_KEY
from scoring.schaefer import APPROXIMATED, FROM_NAMES, networks_from_names, parcel_networks
from scoring.timeseries import normalised_r, reliability_from_repeats
from simulator.movies import MOVIES_TINY, generate_movies


@pytest.fixture(scope="module")
def movies_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("movies") / "release"
    generate_movies(root, MOVIES_TINY, progress=False)
    return root


def test_label_names_give_the_networks():
    assert networks_from_names(
        [
            "7Networks_LH_Vis_1",
            "7Networks_RH_SalVentAttn_12",
            "17Networks_LH_DefaultA_PFCm_3",
            "LH_Limbic_OFC_1",
            "Background",
        ]
    ) == ["Vis", "SalVentAttn", "DefaultA", "Limbic", "other"]
    with pytest.raises(ValueError, match="2 label names for 3 parcels"):
        parcel_networks(3, ["7Networks_LH_Vis_1", "7Networks_LH_Vis_2"])


@pytest.mark.parametrize("kind", ["bids", "order", "lut"])
def test_label_tables_of_each_kind_are_read(tmp_path, kind):
    names = ["7Networks_LH_Vis_1", "7Networks_LH_Default_1", "7Networks_RH_Cont_1"]
    if kind == "bids":
        path, rows = (
            tmp_path / "x.tsv",
            ["index\tname"] + [f"{i}\t{n}" for i, n in enumerate(names, 1)],
        )
    elif kind == "order":  # Schaefer2018_*_order.txt: index name R G B 0
        path, rows = (
            tmp_path / "x_order.txt",
            [f"{i}\t{n}\t120\t18\t134\t0" for i, n in enumerate(names, 1)],
        )
    else:  # Schaefer's .lut: index R G B name, a background row 0
        path, rows = (
            tmp_path / "x.lut",
            ["0 0 0 0 Background"] + [f"{i} 120 18 134 {n}" for i, n in enumerate(names, 1)],
        )
    path.write_text(
        "\n".join(rows[::-1]) + "\n"
    )  # order in the file does not matter: the index does
    assert movie_atlas.read_atlas_labels(path, 3) == names
    with pytest.raises(MovieDataError, match=r"x.*: no name for label\(s\) \[4\] of 1\.\.4"):
        movie_atlas.read_atlas_labels(path, 4)


def test_networks_come_from_the_label_table_beside_the_atlas(movies_root, tmp_path, caplog):
    root = tmp_path / "copy"
    shutil.copytree(movies_root, root, ignore=shutil.ignore_patterns("synthetic_truth", "*.mkv"))
    atlas = movie_atlas.atlas_file(root, "sub-01")
    table = movie_atlas.find_atlas_labels(atlas)
    assert table == atlas.parent / atlas.name.replace(".nii.gz", ".tsv")  # the simulator writes it
    # names that disagree with the approximation: the networks follow the names
    n = 14
    names = [
        f"7Networks_{'LH' if i < 7 else 'RH'}_{'Limbic' if i % 2 else 'Vis'}_{i}" for i in range(n)
    ]
    table.write_text("index\tname\n" + "".join(f"{i}\t{name}\n" for i, name in enumerate(names, 1)))
    dm = MovieDataModule(str(root))
    dm.n_parcels = n
    networks, said = dm.networks()
    assert networks == ["Limbic" if i % 2 else "Vis" for i in range(n)]
    assert networks != parcel_networks(n)
    assert said == f"Schaefer networks per parcel {FROM_NAMES} in {table}"
    # without a table: the approximation, and the line says so
    for subject in ("sub-01", "sub-02"):
        movie_atlas.atlas_labels_file(movie_atlas.atlas_file(root, subject)).unlink()
    dm = MovieDataModule(str(root))
    dm.n_parcels = n
    assert dm.networks() == (
        parcel_networks(n),
        f"Schaefer networks per parcel {APPROXIMATED}: no label table in {atlas.parent}",
    )
    # setup logs the line (the movies' lengths are not checked here: the .mkv files were left out)
    shutil.copytree(movies_root / "stimuli", root / "stimuli", dirs_exist_ok=True)
    with caplog.at_level(logging.INFO):
        MovieDataModule(str(root)).setup()
    assert f"Schaefer networks per parcel {APPROXIMATED}" in caplog.text


def test_reliability_from_repeats_recovers_the_ceiling():
    rng = np.random.default_rng(0)
    n_trs, ceiling = 20000, np.array([0.4, 0.6, 0.8])
    clean = rng.standard_normal((n_trs, 3))
    noise_sd = np.sqrt(1 / ceiling**2 - 1)
    run1 = clean + rng.standard_normal((n_trs, 3)) * noise_sd
    run2 = clean[:-1] + rng.standard_normal((n_trs - 1, 3)) * noise_sd  # a TR shorter: trimmed
    reliability = reliability_from_repeats([(run1, run2)])
    expected = [np.corrcoef(run1[:-1, p], run2[:, p])[0, 1] for p in range(3)]
    np.testing.assert_allclose(reliability, expected, rtol=1e-10)
    # r(clean, one run) = ceiling, and sqrt(reliability) estimates it: a perfect model's
    # normalised r is about 1
    np.testing.assert_allclose(np.sqrt(reliability), ceiling, atol=0.03)
    perfect = np.array([np.corrcoef(clean[:, p], run1[:, p])[0, 1] for p in range(3)])
    np.testing.assert_allclose(normalised_r(perfect, reliability), 1.0, atol=0.05)
    assert reliability_from_repeats([]) is None


class _Repeats:
    """A data module's repeated runs and responses, as MovieRidge reads them."""

    def __init__(self, series):
        self.series = series  # {run name: (n_TRs, n_parcels)}

    def repeated_runs(self, subject):
        def run(repeat):
            return MovieRun(subject, "movie10", "life01", repeat, None, None, None, 0, 0)

        return [(run(1), run(2))] if subject in self.series else []

    def responses(self, run):
        return self.series[run.subject][run.name]


def test_the_normalised_score_is_r_over_the_root_of_the_repeats_reliability():
    rng = np.random.default_rng(1)
    signal = rng.standard_normal((60, 5))
    series = {
        "sub-01": {
            f"life01_run-{k}": signal + rng.standard_normal((60, 5)) * [0.5, 1, 2, 4, 50][:5]
            for k in (1, 2)
        }
    }
    per_parcel = {"sub-01": rng.uniform(0.05, 0.3, 5), "sub-02": rng.uniform(0.05, 0.3, 5)}
    model = object.__new__(MovieRidge)  # only the scoring helpers are used: no backbone is built
    out = model.normalised_by_repeats(_Repeats(series), per_parcel)
    a, b = series["sub-01"]["life01_run-1"], series["sub-01"]["life01_run-2"]
    rel = np.array([np.corrcoef(a[:, p], b[:, p])[0, 1] for p in range(5)])
    keep = rel > 0
    expected = float(np.mean(per_parcel["sub-01"][keep] / np.sqrt(rel[keep])))
    assert set(out) == {NORMALISED_KEY, f"{NORMALISED_KEY}/sub-01"}  # sub-02 saw nothing twice
    assert out[NORMALISED_KEY] == pytest.approx(expected, rel=1e-9)
    assert out[f"{NORMALISED_KEY}/sub-01"] == pytest.approx(expected, rel=1e-9)
    assert object.__new__(MovieRidge).normalised_by_repeats(_Repeats({}), per_parcel) == {}


def test_repeated_runs_pair_run_1_with_run_2(movies_root):
    dm = MovieDataModule(str(movies_root), val_stimuli=["life01"])
    dm.setup()
    pairs = dm.repeated_runs("sub-01")
    assert [(a.name, b.name) for a, b in pairs] == [("life01_run-1", "life01_run-2")]
    assert dm.repeated_runs("sub-09") == []
