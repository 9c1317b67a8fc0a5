# SPDX-License-Identifier: Apache-2.0
"""The vision system's recipe book and result book, pure: ids, filters, handles, history."""
from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.results import InspectionOutcome, InspectionStatus
from acnn_ros.core.vision_system.recipes import (MAX_OPEN_HANDLES, Recipe, recipe_for_model,
                                                 RecipeBook, RecipeError)
from acnn_ros.core.vision_system.results import (PartDecision, RESULT_COMPLETED,
                                                 RESULT_FAILED, ResultBook)
import pytest
from vision_system_support import MODELS_DIR


def test_a_recipe_is_a_model_with_its_card():
    recipe = recipe_for_model('demo', MODELS_DIR / 'acnn_demo.onnx')
    assert recipe.internal_id.startswith('acnn_demo@') and recipe.product_id == 'acnn_demo'
    with pytest.raises(RecipeError, match='not found'):
        recipe_for_model('missing', MODELS_DIR / 'missing.onnx')


def test_filters_and_the_prepared_recipe():
    book = RecipeBook()
    a, b = Recipe('a', 'A@1', 'p1', 'a.onnx'), Recipe('b', 'B@2', 'p2', 'b.onnx')
    book.add(a)
    book.add(b)
    book.prepared = b
    assert book.find('a') == a and book.find(internal_id='B@2') == b and book.find('x') is None
    assert book.filtered(product_id='p1') == [a]
    assert book.filtered(is_prepared=True) == [b] and book.filtered(is_prepared=False) == [a]


def test_handles_are_released_once_and_never_pile_up():
    book = RecipeBook()
    first = book.open_handle()
    assert book.release_handle(first) and not book.release_handle(first)
    handles = [book.open_handle() for _ in range(MAX_OPEN_HANDLES + 10)]
    assert not book.release_handle(handles[0])            # the oldest were forgotten
    assert book.release_handle(handles[-1])
    assert len(book._handles) == MAX_OPEN_HANDLES - 1


def test_one_result_per_decision_joined_with_its_outcome_and_the_last_n_kept():
    book = ResultBook(history=3)
    key = FrameKey(5, 'cam')
    book.add_outcome(key, InspectionOutcome(InspectionStatus.OK, class_name='p1'), 7.5)
    results = [book.add_decision(PartDecision(FrameKey(n, 'cam'), n, 'accept', 'none', 'p1',
                                              0.9), 100.0 + n, 'job', 'r', 'c')
               for n in range(1, 6)]
    assert [r.result_id for r in results] == [1, 2, 3, 4, 5]
    assert [r.result_state for r in results] == [RESULT_FAILED] * 4 + [RESULT_COMPLETED]
    assert results[4].processing_ms == 7.5 and results[0].processing_ms == 0.0
    assert book.get(2) is None and book.get(5) is results[4]
    assert [r.result_id for r in book.latest(10)] == [5, 4, 3]
