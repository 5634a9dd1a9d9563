// Named sampling settings for a chat; any other combination shows as "Custom".

export const PRESETS = {
  precise: { label: 'Precise', temperature: 0.2, top_p: 0.9 },
  balanced: { label: 'Balanced', temperature: 0.7, top_p: 0.95 },
  creative: { label: 'Creative', temperature: 1.0, top_p: 1.0 },
};

/** The preset these settings are, or 'custom'. */
export function presetOf({ temperature, top_p }) {
  for (const [name, p] of Object.entries(PRESETS)) {
    if (p.temperature === temperature && p.top_p === top_p) return name;
  }
  return 'custom';
}
