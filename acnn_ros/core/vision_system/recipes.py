# SPDX-License-Identifier: Apache-2.0
"""
Recipes of the vision system: a recipe is a product model (an .onnx with its card).

OPC 40100-1 RecipeManagement, as far as the Basic Vision System Server facet needs it: a
recipe has an external id (what the PLC / MES names it: here the model path as configured or
given to AddRecipe), an internal id (the model id of its card: name@content hash), and the
product it is for. Preparing a recipe is the product changeover of inference_node (the caller
runs it); the book records which one is prepared and hands out list handles.
"""
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from acnn_ros.core.model_card import card_path_for, ModelCard


# Open list handles kept at most: a client that never releases its handles (a PLC reading
# GetResultById for every part) must not grow the server without bound; the oldest goes.
MAX_OPEN_HANDLES = 1024


class RecipeError(ValueError):
    """A recipe cannot be added (no model file, no card)."""


@dataclass(frozen=True)
class Recipe:
    """One recipe: ids as OPC UA clients see them, and the model file it loads."""

    external_id: str
    internal_id: str
    product_id: str
    model_path: str


def recipe_for_model(external_id: str, model_path: Path, product_id: str = '') -> Recipe:
    """Return the recipe of a model file (internal id = its card's model id)."""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise RecipeError(f'model file not found: {model_path}')
    try:
        card = ModelCard.load(card_path_for(model_path))
    except ValueError as exc:
        raise RecipeError(str(exc)) from exc
    return Recipe(external_id, card.model_id, product_id or card.name, str(model_path))


class RecipeBook:
    """The recipes known, the one prepared, and the open list handles."""

    def __init__(self):
        self._recipes: Dict[str, Recipe] = {}      # by external id
        self.prepared: Optional[Recipe] = None
        self._handles: 'OrderedDict[int, None]' = OrderedDict()
        self._next_handle = 0

    def add(self, recipe: Recipe) -> Recipe:
        """Add (or replace) the recipe named by its external id; return it."""
        self._recipes[recipe.external_id] = recipe
        return recipe

    def find(self, external_id: str = '', internal_id: str = '') -> Optional[Recipe]:
        """Return the recipe with this external id, else this internal id, else None."""
        if external_id in self._recipes:
            return self._recipes[external_id]
        return next((r for r in self._recipes.values()
                     if internal_id and r.internal_id == internal_id), None)

    def filtered(self, external_id: str = '', product_id: str = '',
                 is_prepared: Optional[bool] = None) -> List[Recipe]:
        """Return the recipes matching every filter given ('' / None: any)."""
        return [r for r in self._recipes.values()
                if (not external_id or r.external_id == external_id)
                and (not product_id or r.product_id == product_id)
                and (is_prepared is None or (r == self.prepared) == is_prepared)]

    def open_handle(self) -> int:
        """Return a new list handle (released by release_handle, or forgotten when old)."""
        self._next_handle += 1
        self._handles[self._next_handle] = None
        while len(self._handles) > MAX_OPEN_HANDLES:
            self._handles.popitem(last=False)
        return self._next_handle

    def release_handle(self, handle: int) -> bool:
        """Release a list handle; return False if it was not open."""
        return self._handles.pop(handle, False) is None
