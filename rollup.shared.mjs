// One rollup config for every workspace package: run from the package folder (npm run build -w PKG).
// ESM build of src/index.ts plus a bundled .d.ts; dependencies stay external.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import typescript from '@rollup/plugin-typescript';
import { dts } from 'rollup-plugin-dts';

const pkg = JSON.parse(readFileSync(resolve('package.json'), 'utf8'));
const deps = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})];
const external = (id) => id.startsWith('node:') || deps.some((d) => id === d || id.startsWith(d + '/'));
const tsOptions = {
  tsconfig: resolve('tsconfig.build.json'),
  // the plugin substitutes its own module kind unless told; keep NodeNext to match moduleResolution
  compilerOptions: { module: 'NodeNext' },
  noEmitOnError: true,
};

export default [
  {
    input: 'src/index.ts',
    output: { dir: 'dist', format: 'esm', sourcemap: true },
    external,
    plugins: [typescript(tsOptions)],
  },
  {
    input: 'src/index.ts',
    output: { file: 'dist/index.d.ts', format: 'esm' },
    external,
    plugins: [dts({ tsconfig: resolve('tsconfig.build.json') })],
  },
];
