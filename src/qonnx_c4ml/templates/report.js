window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  document.body.dataset.imagesTotal = String(images.length);
  document.body.dataset.imagesLoaded = String(images.filter(function (i) {
    return i.complete && i.naturalWidth > 0; }).length);
});
