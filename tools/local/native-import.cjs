// Node's own dynamic import, in a file that Node loads itself: out of reach of any transforming loader
// (vitest's, tsx's), so a bundle is imported exactly as Lambda's runtime imports it.
module.exports = (url) => import(url);
