"""The benchmarks: speed, quality per CPU-minute, load and attacks, each a script run from the checkout's root as
`python -m benchmarks.NAME` (its docstring says what it measures and where its figures go). They import the
package and `cyclegan.testing` as any module, and `benchmarks.common` for their tables and hardware lines."""
