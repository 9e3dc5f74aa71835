import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { loadRuntimeConfig } from './runtime-config.ts';
import './styles.css';

const config = await loadRuntimeConfig();

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App apiOrigin={config.apiOrigin} />
  </StrictMode>,
);
