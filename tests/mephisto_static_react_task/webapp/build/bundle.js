// Stands in for the example's built app: these tests load and launch the config,
// no browser opens the page.
