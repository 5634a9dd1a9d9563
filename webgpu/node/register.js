// `node --import ./webgpu/node/register.js ...`: lets the engine's modules load in node.
import { register } from 'node:module';

register('./hooks.js', import.meta.url);
