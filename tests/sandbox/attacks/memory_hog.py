"""Attack: allocate (and touch) far more memory than the limit allows."""

chunks = []
for i in range(1, 33):
    chunks.append(bytearray(64 * 1024 * 1024))
    print(f"allocated {i * 64} MiB", flush=True)
print("ESCAPED: allocated 2 GiB", flush=True)
