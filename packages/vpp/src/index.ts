// Public entry of @meshctl/vpp. Explicit named exports only.
export {};
