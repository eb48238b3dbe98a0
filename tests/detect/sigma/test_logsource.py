"""Log sources → channel/event-id variants, and the reasons a rule's source is refused."""

from __future__ import annotations

import polars as pl
import pytest

from sekimori.detect.sigma.fields import FieldResolver
from sekimori.detect.sigma.logsource import variants_for
from sekimori.errors import RuleError


def test_process_creation_has_sysmon_and_security_variants() -> None:
    sysmon, security = variants_for("windows", None, "process_creation")
    assert sysmon.event_ids == (1,)
    assert security.event_ids == (4688,)
    assert security.fieldmap["Image"] == "NewProcessName"


def test_service_only_and_category_with_service() -> None:
    (variant,) = variants_for("windows", "powershell", None)
    assert "Microsoft-Windows-PowerShell/Operational" in variant.channels
    assert variants_for("windows", "sysmon", "process_creation")[0].event_ids == (1,)


@pytest.mark.parametrize(
    ("product", "service", "category", "reason"),
    [
        ("linux", None, "process_creation", "not a Windows event log"),
        ("windows", None, "file_access", "no Windows event log source"),
        ("windows", None, "made_up", "unknown Windows log source category"),
        ("windows", "made-up", None, "unknown Windows log source service"),
    ],
)
def test_refused_sources(
    product: str, service: str | None, category: str | None, reason: str
) -> None:
    with pytest.raises(RuleError, match=reason):
        variants_for(product, service, category)


def test_mask_accepts_rows_without_channel() -> None:
    (variant,) = variants_for("windows", None, "registry_add")
    frame = pl.DataFrame(
        {
            "event.code": ["12", "12", "12", "13"],
            "winlog.channel": ["Microsoft-Windows-Sysmon/Operational", None, "System", None],
            "winlog.event_data.EventType": ["CreateKey", "CreateKey", "CreateKey", "CreateKey"],
        }
    )
    mask = frame.select(variant.mask(FieldResolver(frame.schema))).to_series().to_list()
    assert mask == [True, True, False, False]
