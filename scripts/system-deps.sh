#!/usr/bin/env bash
# 系统软件包：PDF 中文字体（文泉驿微米黑）；测试另需 poppler-utils（pdftotext / pdffonts / pdftoppm）
# 与浏览器测试用的 Chromium（Debian 软件包，Playwright 驱动它，从不另行下载浏览器）。
# System packages from Debian: the PDF font (fonts-wqy-microhei) and, for the tests,
# poppler-utils and chromium (the browser tests drive Debian's Chromium through Playwright).
# Installed only when missing; `scripts/system-deps.sh test` adds the test packages,
# `scripts/system-deps.sh bench` the benchmarks' load tool (wrk).
set -euo pipefail

need=()
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || [ -n "${PC_PDF_FONT:-}" ] || need+=(fonts-wqy-microhei)
if [ "${1:-}" = "test" ]; then
  command -v pdftotext >/dev/null 2>&1 && command -v pdffonts >/dev/null 2>&1 || need+=(poppler-utils)
  [ -x /usr/bin/chromium ] || need+=(chromium)
fi
if [ "${1:-}" = "bench" ]; then
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
fi
[ ${#need[@]} -eq 0 ] && exit 0

echo "安装系统软件包：${need[*]}"
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "需要以 root 身份安装：apt-get install ${need[*]}" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q "${need[@]}" >/dev/null 2>&1 || {
  $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q "${need[@]}" >/dev/null
}
