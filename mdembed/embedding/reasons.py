"""Why a request is not fully embedded: a closed set, so metrics count them without parsing text."""

from __future__ import annotations

from enum import Enum


class Reason(str, Enum):
    """Each value is the text summary.json's ``reject_reasons`` counts and events.jsonl shows."""

    NO_NODE_CAPACITY = "no node has the capacity"
    END_VNF_NOT_PLACED = "an end VNF is not placed"
    NO_BANDWIDTH = "no path has enough bandwidth"
    DELAY_BOUND = "no path tried meets the delay bound"
    LOSS_BOUND = "no path tried meets the loss bound"
    NO_PATH_FOR_MAP = "no path found for the map"
    NO_FEASIBLE_MAP = "no feasible map found"
    INFEASIBLE = "infeasible"
    TIME_LIMIT = "no solution within the time limit"
