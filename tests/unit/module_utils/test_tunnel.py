"""The tunnel core's facts: device MTUs and the workload MTU."""

import pytest

from ansible_collections.calico.network.plugins.module_utils import tunnel


@pytest.mark.parametrize(
    ("underlay", "used", "expected"),
    [
        (1500, [], {"workload": 1500}),
        (1500, ["ipip"], {"tunl0": 1480, "workload": 1480}),
        (1500, ["vxlan"], {"vxlan.calico": 1450, "workload": 1450}),
        (1500, ["ipip", "vxlan"], {"tunl0": 1480, "vxlan.calico": 1450, "workload": 1450}),
        (9000, ["ipip"], {"tunl0": 8980, "workload": 8980}),
        (1460, ["vxlan"], {"vxlan.calico": 1410, "workload": 1410}),
    ],
)
def test_mtus_subtract_the_overheads_and_workloads_take_the_smallest(underlay, used, expected):
    assert tunnel.mtus(underlay, used) == expected
