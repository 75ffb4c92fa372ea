"""Which partition a producer's default partitioner puts a key in, computed as the clients do.

Two families cover the producers people meet:
- `murmur2`: the Java client's default (and librdkafka's `murmur2_random`): murmur2 of the
  key bytes, sign bit cleared, modulo the partition count;
- `crc32`: librdkafka's default `consistent_random` (so every confluent-kafka, kcat or
  librdkafka-based producer left at its defaults): CRC-32 of the key modulo the count.

A key look-up reads only these partitions; a producer with a custom partitioner needs an
"all partitions" scan instead.
"""

from __future__ import annotations

import zlib

PARTITIONERS = ("murmur2", "crc32")
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as an unsigned 32-bit int."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    end = length - length % 4
    for i in range(0, end, 4):
        k = data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    rest = length % 4
    if rest == 3:
        h ^= data[end + 2] << 16
    if rest >= 2:
        h ^= data[end + 1] << 8
    if rest >= 1:
        h ^= data[end]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def partition_for(key: bytes, partitions: int, partitioner: str) -> int:
    if partitions <= 0:
        raise ValueError("a topic has at least one partition")
    if partitioner == "murmur2":
        return (murmur2(key) & 0x7FFFFFFF) % partitions
    if partitioner == "crc32":
        return zlib.crc32(key) % partitions
    raise ValueError(f"unknown partitioner {partitioner!r}: one of {', '.join(PARTITIONERS)}")


def candidate_partitions(key: bytes, partitions: int, partitioners: tuple[str, ...] = PARTITIONERS) -> list[int]:
    """The partitions the given default partitioners would choose for the key (one or two)."""
    return sorted({partition_for(key, partitions, p) for p in partitioners})
