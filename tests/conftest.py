"""Shared test settings.

The unit tests use tiny tensors, for which one thread is fastest; with several threads on a
small, busy machine (another process training, say) PyTorch's thread pool can make a
0.1-second training loop take tens of seconds.
"""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
