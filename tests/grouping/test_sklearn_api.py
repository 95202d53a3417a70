"""The grouping estimators follow scikit-learn's contract, so clone(), grid searches and
pipelines work on them: parameters are keyword-only and round-trip through get/set_params."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from sklearn.base import clone

from benchmarks.baselines import HDBSCANBaseline, SpeakerGroupingBaseline
from grouping.calibrate import SimilarityCalibration
from grouping.cluster import ReliableFirstClustering
from grouping.confidence import LineConfidence
from grouping.link import RosterLinker
from grouping.projection import LabelProjection
from grouping.propagate import NamePropagator
from grouping.turns import TurnSmoother

ESTIMATORS = [
    ReliableFirstClustering,
    RosterLinker,
    NamePropagator,
    LineConfidence,
    SimilarityCalibration,
    LabelProjection,
    TurnSmoother,
    SpeakerGroupingBaseline,
    HDBSCANBaseline,
]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_clone_keeps_parameters_and_drops_fitted_state(cls):
    params = cls().get_params()
    assert params, "an estimator exposes its parameters"
    est = cls()
    est.fitted_marker_ = 1
    copy = clone(est)
    assert copy is not est and copy.get_params() == params
    assert not hasattr(copy, "fitted_marker_")


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_parameters_are_keyword_only(cls):
    kinds = {p.kind for n, p in inspect.signature(cls.__init__).parameters.items() if n != "self"}
    assert kinds == {inspect.Parameter.KEYWORD_ONLY}


def test_set_params_changes_the_fit():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    X = np.repeat(centres, 20, axis=0) + 0.3 * rng.normal(size=(60, 16))
    loose = ReliableFirstClustering().set_params(core_threshold=-1.0, calibrate=False)
    strict = clone(loose).set_params(core_threshold=0.99, attach_threshold=0.99)
    assert len(set(loose.fit_predict(X).tolist())) < len(set(strict.fit_predict(X).tolist()))
