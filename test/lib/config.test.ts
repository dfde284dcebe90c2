import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../lib/config';

describe('CORS_ORIGINS', () => {
  it('defaults to the local frontend dev servers only', () => {
    expect(loadConfig({}).CORS_ORIGINS).toEqual(['http://localhost:5173', 'http://127.0.0.1:5173', 'http://localhost:3001', 'http://127.0.0.1:3001']);
  });

  it('takes a comma-separated list, and empty for no browser origin at all', () => {
    expect(loadConfig({ CORS_ORIGINS: ' https://app.example.com, http://localhost:8080 ' }).CORS_ORIGINS).toEqual([
      'https://app.example.com',
      'http://localhost:8080',
    ]);
    expect(loadConfig({ CORS_ORIGINS: '' }).CORS_ORIGINS).toEqual([]);
  });

  it('refuses anything a browser would never send as Origin, and *', () => {
    for (const bad of ['*', 'null', 'app.example.com', 'https://app.example.com/', 'https://app.example.com/app', 'https://app.example.com:443', 'HTTPS://APP.EXAMPLE.COM', 'ftp://files.example.com']) {
      expect(() => loadConfig({ CORS_ORIGINS: `https://ok.example.com,${bad}` }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ CORS_ORIGINS: bad }), bad).toThrow(/CORS_ORIGINS/);
    }
  });
});
