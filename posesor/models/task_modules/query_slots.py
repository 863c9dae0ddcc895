# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Which decoder queries go on to the pose-ranking head, and where."""
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class QuerySlots:
    """Chosen decoder queries and the padded slot each one fills.

    In training the chosen queries are those matched to the ground truth
    (slot = ground-truth index); at inference those kept by the objectness
    threshold (slots 0.. in ascending query order).

    Attributes:
        batch_inds (Tensor): (m,) image of each chosen query.
        query_inds (Tensor): (m,) its decoder query index.
        slot_inds (Tensor): (m,) its slot.
        num_slots (int): Slots per image (n).
    """
    batch_inds: Tensor
    query_inds: Tensor
    slot_inds: Tensor
    num_slots: int

    def slot_mask(self, batch_size: int) -> Tensor:
        """(B, n, 1) float occupancy of the slots, 1 for filled ones."""
        mask = torch.zeros((batch_size, self.num_slots, 1),
                           device=self.batch_inds.device)
        mask[self.batch_inds, self.slot_inds] = 1.0
        return mask

    def pack(self, values: Tensor, batch_size: int) -> Tensor:
        """Place per-query values in their slots, zeros elsewhere.

        Args:
            values (Tensor): (m, ...) values of the chosen queries, in the
                order of ``batch_inds``.
            batch_size (int): Images B.

        Returns:
            Tensor: (B, n, ...).
        """
        packed = values.new_zeros((batch_size, self.num_slots) +
                                  values.shape[1:])
        packed[self.batch_inds, self.slot_inds] = values
        return packed

    def of_image(self, index: int) -> 'QuerySlots':
        """The chosen queries of image ``index`` only."""
        keep = self.batch_inds == index
        return QuerySlots(self.batch_inds[keep], self.query_inds[keep],
                          self.slot_inds[keep], self.num_slots)
