#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=65536 node
// The shebang sets glibc's fixed mmap threshold for every meshctl process started through this
// bin: socket read buffers then do not fragment a long-running `xds serve` (decision record 0068).
import { execute } from "@oclif/core";

await execute({ dir: import.meta.url });
