// Public entry of @meshctl/ebpf. Explicit named exports only.
export {};
