// Public entry of @meshctl/tstats. Explicit named exports only.
export {};
