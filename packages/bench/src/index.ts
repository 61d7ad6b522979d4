// Public entry of @meshctl/bench. Explicit named exports only.
export {};
