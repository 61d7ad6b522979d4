// Public entry of @meshctl/xds. Explicit named exports only.
export {};
