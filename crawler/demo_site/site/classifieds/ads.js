// Ads are injected by script: the static HTML carries no ad text (only a browser sees it).
var ADS = [
 {
  "id": 1,
  "title": "\u5f81\u4fe1\u82b1\u4e86\uff1f\u903e\u671f\u8bb0\u5f55\u4e13\u4e1a\u4fee\u590d",
  "user": "\u946b\u8bda\u54a8\u8be2-\u963f\u6770",
  "date": "2026-10-20",
  "body": "\u6df1\u5733\u5e02\u946b\u8bda\u4fe1\u606f\u54a8\u8be2\u6709\u9650\u516c\u53f8\uff1a\u5f81\u4fe1\u4fee\u590d\u3001\u5f81\u4fe1\u6d17\u767d\u3001\u6d88\u9664\u903e\u671f\uff0c\u5185\u90e8\u6e20\u9053\uff0c\u4e0d\u6210\u529f\u4e0d\u6536\u8d39\uff01\u7535\u8bdd \u2460\u2462\u2467-0013-8000\uff0c\u5fae\u4fe1 xinc888\uff0c\u5f53\u5929\u529e\u7406\u3002"
 },
 {
  "id": 2,
  "title": "\u91d1\u76fe\u4fe1\u7528 \u4e0a\u6d77 \u903e\u671f\u534f\u5546 \u4fe1\u7528\u4fee\u590d",
  "user": "\u91d1\u76fe\u4fe1\u7528\u4e0a\u6d77",
  "date": "2026-10-21",
  "body": "\u91d1\u76fe\u4fe1\u7528\u7ba1\u7406 \u4e0a\u6d77 \u4e13\u4e1a\u4fe1\u7528\u4fee\u590d\u3001\u903e\u671f\u5904\u7406\u3001\u505c\u606f\u6302\u8d26\uff0c\u5341\u5e74\u8001\u5e97\uff0c\u4fdd\u8bc1\u6210\u529f\u3002\u8054\u7cfb\u7535\u8bdd\uff1a021-62881234\u3002"
 },
 {
  "id": 3,
  "title": "\u4e5d\u6210\u65b0\u5c71\u5730\u8f66\u51fa\u552e 300\u5143",
  "user": "\u9a91\u884c\u7231\u597d\u8005",
  "date": "2026-10-22",
  "body": "\u6377\u5b89\u7279\u5c71\u5730\u8f66\uff0c\u9a91\u4e86\u534a\u5e74\uff0c\u4e5d\u6210\u65b0\uff0c\u56e0\u642c\u5bb6\u4f4e\u4ef7\u51fa\u552e\uff0c300\u5143\uff0c\u5357\u5c71\u533a\u81ea\u63d0\uff0c\u975e\u8bda\u52ff\u6270\u3002"
 },
 {
  "id": 4,
  "title": "\u4ee3\u7406\u7ef4\u6743 \u6295\u8bc9\u6a21\u677f \u5305\u6210\u529f",
  "user": "\u6b63\u4fe1\u7ef4\u6743",
  "date": "2026-10-23",
  "body": "\u676d\u5dde\u6b63\u4fe1\u6cd5\u5f8b\u54a8\u8be2\u6709\u9650\u516c\u53f8 \u4ee3\u7406\u7ef4\u6743 \u4ee3\u6295\u8bc9\uff0c\u94f6\u884c\u3001\u7f51\u8d37\u3001\u4fdd\u9669\u90fd\u80fd\u6295\uff0c\u6295\u8bc9\u6a21\u677f\u76f4\u63a5\u5957\u7528\uff0c\u52a0\u5fae\u4fe1 zhengxin_law\u3002"
 }
];

function esc(s) { var d = document.createElement('div'); d.textContent = s; return d.innerHTML; }
function renderList() {
  var box = document.getElementById('ads');
  var html = '';
  ADS.forEach(function (ad) {
    html += '<li><a class="ad" href="ad.html?id=' + ad.id + '">' + esc(ad.title) + '</a> <span>' + ad.date + '</span></li>';
  });
  box.innerHTML = '<ul>' + html + '</ul>';
}
function renderAd() {
  var id = Number(new URLSearchParams(location.search).get('id'));
  var ad = ADS.filter(function (a) { return a.id === id; })[0];
  if (!ad) { document.getElementById('ad').textContent = '\u5e7f\u544a\u4e0d\u5b58\u5728'; return; }
  document.title = ad.title + ' - \u540c\u57ce\u5206\u7c7b';
  document.getElementById('ad').innerHTML =
    '<h1 class="ad-title">' + esc(ad.title) + '</h1>' +
    '<p class="meta"><span class="user">' + esc(ad.user) + '</span> <time>' + ad.date + '</time></p>' +
    '<div class="ad-body">' + esc(ad.body) + '</div>';
}
window.addEventListener('DOMContentLoaded', function () {
  setTimeout(function () { if (document.getElementById('ads')) renderList(); else renderAd(); }, 150);
});
