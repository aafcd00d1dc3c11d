//! Drawing a generation: one 3D tile per candidate (its bodies from the env file, posed from its
//! rollout at the shared clock's frame, targets as markers, a ground), labels and a status line,
//! and on request each tile's reward terms over the episode; in a window, or offscreen into an
//! image (screenshots, GIFs; no window system needed).
//!
//! Each tile's entities live on their own render layer, seen by their own camera through the
//! tile's viewport; one background camera clears the whole target and one UI camera draws the
//! text on top. Bodies hang under a root rotated from the simulator's z-up frame to Bevy's y-up
//! frame, so their poses are copied as recorded.

use crate::app::{ScriptedKeys, Viewer, ViewerLogic, ViewerLogicPlugin};
use crate::episode::Episode;
use crate::generation::{GenerationView, Tile, ViewerError};
use crate::keys::HELP;
use crate::layout::{Rect, grid, tile_rect};

use crate::plot::{FITNESS_COLOR, term_color, term_strip};
use crate::ranker::tile_key;
use crate::sheet::{Packing, SheetOptions, frame_indices, pack, time_label};
use bevy::app::ScheduleRunnerPlugin;
use bevy::asset::RenderAssetUsages;
use bevy::camera::visibility::RenderLayers;
use bevy::camera::{RenderTarget, Viewport};
use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll};
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use bevy::text::FontSize;
use bevy::window::{ExitCondition, WindowResolution};
use bevy::winit::WinitPlugin;
use rewardsmith_search::ranking::Ranking;
use rewardsmith_sim::rollout::Rollout;
use rewardsmith_spec::{Axis, Shape};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Background of every tile.
const BACKGROUND: Color = Color::srgb(0.93, 0.94, 0.96);
/// Body colours, body by body.
const BODY_COLORS: [Color; 6] = [
    Color::srgb(0.20, 0.40, 0.75),
    Color::srgb(0.90, 0.55, 0.15),
    Color::srgb(0.25, 0.65, 0.35),
    Color::srgb(0.75, 0.25, 0.30),
    Color::srgb(0.55, 0.40, 0.75),
    Color::srgb(0.45, 0.45, 0.45),
];
/// A target marker's colour and radius (m).
const TARGET_COLOR: Color = Color::srgb(0.9, 0.1, 0.1);
const TARGET_RADIUS: f32 = 0.03;
/// Font size of labels and the status line (logical px).
const FONT_PX: f32 = 14.0;
/// Height of the status line at the bottom (logical px): four lines of text; the tiles share
/// the rest.
const STATUS_PX: f32 = 4.0 * (FONT_PX + 4.0) + 8.0;
/// Height of the term strip, as a fraction of its tile.
const STRIP_FRACTION: f32 = 0.32;

/// The term strip legend's font size (logical pixels).
const LEGEND_PX: f32 = FONT_PX - 3.0;
/// Frames a capture waits at least before its first image (pipelines compile in the first
/// frames); it then waits until two captures in a row are identical.
const WARMUP_FRAMES: u32 = 5;
/// Most warm-up captures before giving up on a stable image.
const MAX_WARMUP_CAPTURES: u32 = 200;

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A frame could not be captured or saved.
    #[error("{0}")]
    Capture(String),
    /// A rollout to draw could not be read, or its environment found.
    #[error(transparent)]
    View(#[from] ViewerError),
    /// The sheets asked for cannot be drawn (options, episode, environments).
    #[error("{0}")]
    Sheet(String),
}

/// What a viewer run ended with.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The ranking written, if Enter wrote one.
    pub ranking: Option<Ranking>,
    /// The last status line.
    pub status: String,
    /// Images saved (screenshots) or frames encoded (GIF).
    pub frames_saved: usize,
    /// Why a capture failed.
    pub error: Option<String>,
}

/// Where the viewer draws.
#[derive(Debug, Clone)]
pub enum Output {
    /// A window; with `screenshot`, its content after that many frames is saved and it closes.
    Window {
        /// File and frame count.
        screenshot: Option<(PathBuf, u32)>,
    },
    /// An offscreen image of the window's size (no window system needed); with `screenshot`,
    /// saved as a PNG after that many frames, and the viewer closes. (Without, it runs until
    /// scripted keys close it.)
    Offscreen {
        /// File and frame count.
        screenshot: Option<(PathBuf, u32)>,
    },
    /// An offscreen animated GIF of episode 0, every `stride`-th frame, `delay_cs` hundredths of a
    /// second apart.
    Gif {
        /// The GIF file.
        path: PathBuf,
        /// Frames advanced between GIF frames.
        stride: usize,
        /// Delay between GIF frames, 1/100 s.
        delay_cs: u16,
    },
    /// Offscreen contact sheets ([`render_sheets`]): one capture of the whole target, cut into
    /// one PNG per sheet.
    Sheets {
        /// Each sheet's PNG file and its rectangle on the target (pixels).
        sheets: Vec<(PathBuf, Rect)>,
    },
}

/// How the viewer starts.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Window or image width, pixels.
    pub width: u32,
    /// Window or image height, pixels.
    pub height: u32,
    /// Whether each tile's reward terms are shown from the start (the T key toggles them).
    pub show_terms: bool,
}

/// Shows `view` until the person closes the window, or renders what `output` asks and returns.
pub fn run(view: GenerationView, options: Options, output: Output, keys: ScriptedKeys) -> Result<Outcome, RenderError> {
    run_with(view, options, output, keys, None)
}

/// [`run`], with a contact sheet's plan (its tiles' places, cameras, grounds, targets and labels)
/// instead of the viewer's grid and shared camera.
fn run_with(view: GenerationView, options: Options, output: Output, keys: ScriptedKeys, plan: Option<SheetPlan>) -> Result<Outcome, RenderError> {
    let Options { width, height, show_terms } = options;
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let mut app = App::new();
    let offscreen = !matches!(output, Output::Window { .. });
    if offscreen {
        // No window system: render into an image, driven by a plain loop.
        app.add_plugins((
            DefaultPlugins.set(WindowPlugin { primary_window: None, exit_condition: ExitCondition::DontExit, ..default() }).disable::<WinitPlugin>(),
            ScheduleRunnerPlugin::run_loop(Duration::ZERO),
        ));
    } else {
        let window = Window {
            title: format!("rewardsmith: {} generation {}", view.run.display(), view.generation),
            resolution: WindowResolution::new(width, height),
            ..default()
        };
        app.add_plugins(DefaultPlugins.set(WindowPlugin { primary_window: Some(window), ..default() }));
    }
    let target = if offscreen {
        let image = target_image(width, height);
        let handle = app.world_mut().resource_mut::<Assets<Image>>().add(image);
        let status = !matches!(output, Output::Gif { .. });
        let status = status && plan.is_none();
        let rects = plan.as_ref().map(|p| p.tiles.iter().map(|t| t.rect).collect());
        Canvas { target: RenderTarget::from(handle.clone()), image: Some(handle), width, height, scale: 1.0, status, rects }
    } else {
        Canvas { target: RenderTarget::Window(bevy::window::WindowRef::Primary), image: None, width, height, scale: 1.0, status: true, rects: None }
    };
    if !matches!(output, Output::Window { screenshot: None }) {
        // Pictures and GIFs are reproducible: each update advances one control step of
        // simulated time, whatever the wall clock did.
        let step = Duration::from_secs_f64(view.env.spec.control_dt());
        app.insert_resource(bevy::time::TimeUpdateStrategy::ManualDuration(step));
    }
    let mut viewer = Viewer::new(view);
    viewer.show_terms = show_terms;
    if matches!(output, Output::Gif { .. } | Output::Sheets { .. }) {
        viewer.show_fitness = false;
    }
    if let Some(plan) = plan {
        app.insert_resource(plan);
    }
    app.insert_resource(viewer)
        .insert_resource(target)
        .insert_resource(Shared(outcome.clone()))
        .insert_resource(keys)
        .insert_resource(Job { output, frame: 0, captures: Vec::new(), pending: false, shot: 0 })
        .insert_resource(GlobalAmbientLight { brightness: 400.0, ..default() })
        .add_plugins(ViewerLogicPlugin)
        .add_systems(Startup, setup)
        .add_systems(Update, (canvas_size, orbit, click, pose_bodies, place_markers, place_cameras, labels, strips, capture).chain().after(ViewerLogic))
        .add_systems(Last, report);
    app.run();
    let outcome = outcome.lock().map(|o| o.clone()).unwrap_or_default();
    if let Some(e) = &outcome.error {
        return Err(RenderError::Capture(e.clone()));
    }
    Ok(outcome)
}

/// An sRGB image cameras can render into and screenshots can read.
fn target_image(width: u32, height: u32) -> Image {
    let mut image = Image::new_fill(
        Extent3d { width, height, depth_or_array_layers: 1 },
        TextureDimension::D2,
        &[0, 0, 0, 255],
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::default(),
    );
    image.texture_descriptor.usage = bevy::render::render_resource::TextureUsages::TEXTURE_BINDING
        | bevy::render::render_resource::TextureUsages::COPY_SRC
        | bevy::render::render_resource::TextureUsages::COPY_DST
        | bevy::render::render_resource::TextureUsages::RENDER_ATTACHMENT;
    image
}

/// The render target, its current size in physical pixels and its scale factor (physical per
/// logical pixel).
#[derive(Resource)]
struct Canvas {
    target: RenderTarget,
    image: Option<Handle<Image>>,
    width: u32,
    height: u32,
    scale: f32,
    /// Whether the status line (clock, messages, key help) is drawn: not in a GIF or a sheet,
    /// which are for watching, not for ranking.
    status: bool,
    /// Each tile's rectangle, physical pixels, where a sheet places them (else the grid).
    rects: Option<Vec<Rect>>,
}

impl Canvas {
    /// The area the tiles share (above the status line), physical pixels.
    fn tiles_area(&self) -> (u32, u32) {
        let status = if self.status { (STATUS_PX * self.scale) as u32 } else { 0 };
        (self.width, self.height.saturating_sub(status).max(1))
    }

    /// Tile `tile`'s rectangle of `n`, physical pixels.
    fn tile(&self, tile: usize, n: usize) -> Rect {
        if let Some(rect) = self.rects.as_ref().and_then(|r| r.get(tile)) {
            return *rect;
        }
        let (w, h) = self.tiles_area();
        tile_rect(grid(n), tile, w, h)
    }
}

/// The outcome, shared with [`run`]'s caller.
#[derive(Resource)]
struct Shared(Arc<Mutex<Outcome>>);

/// What is left to do for a screenshot or GIF.
#[derive(Resource)]
struct Job {
    output: Output,
    /// Updates run so far.
    frame: u32,
    /// Encoded frames (GIF) so far, as RGBA images, or warm-up captures.
    captures: Vec<Vec<u8>>,
    /// A screenshot was requested and has not arrived.
    pending: bool,
    /// GIF frames done, or screenshot captures tried.
    shot: usize,
}

/// Where the `n` tiles of an offscreen image of `width` × `height` are (physical pixels; the
/// status line takes the bottom).
pub fn offscreen_tiles(n: usize, width: u32, height: u32) -> Vec<Rect> {
    let canvas = Canvas { target: RenderTarget::None { size: UVec2::new(width, height) }, image: None, width, height, scale: 1.0, status: true, rects: None };
    (0..n).map(|i| canvas.tile(i, n)).collect()
}

/// A body of a tile.
#[derive(Component)]
struct BodyOf {
    tile: usize,
    body: usize,
}

/// A tile's camera.
#[derive(Component)]
struct TileCamera(usize);

/// A tile's label.
#[derive(Component)]
struct TileLabel(usize);

/// A tile's term strip (image), legend and cursor; `episode` is what the strip shows.
#[derive(Component)]
struct TermStrip {
    tile: usize,
    episode: Option<usize>,
}
#[derive(Component)]
struct StripLegend(usize);
#[derive(Component)]
struct StripCursor(usize);

/// The status line.
#[derive(Component)]
struct StatusLine;

/// The orbit camera every tile shares: the point looked at, angles (rad) and distance (m), in
/// Bevy's y-up frame.
#[derive(Resource, Clone)]
struct Orbit {
    focus: Vec3,
    yaw: f32,
    pitch: f32,
    distance: f32,
}

/// Simulator (z-up) to Bevy (y-up) coordinates.
fn to_bevy(p: Vec3) -> Vec3 {
    Vec3::new(p.x, p.z, -p.y)
}

/// Share of the moving bodies' surface points left out at each end of each axis when framing: a
/// ball that rolled off the plate and fell in one episode must not shrink every robot to a dot.
const FRAMING_QUANTILE: f32 = 0.02;

/// Empty space around the framed motion, as a share of the view.
const FRAMING_MARGIN: f32 = 1.08;

/// The framing of every tile's episode for tiles of `aspect` (width / height): focus, distance,
/// pitch; and the ground's height (sim z) and half size (m). The camera is placed so that the
/// box around where the robot's surfaces went (not its centres of mass: a pendulum's tip reaches
/// twice as far as its centre) and the episode's targets (`targets`: per tile, per episode) fill
/// the tile, for its aspect ratio.
///
/// `views` share one environment; the framing covers the episodes of all their tiles.
fn framing(views: &[&GenerationView], targets: &[Vec<Vec<Vec3>>], episode: usize, aspect: f32) -> (Orbit, f32, f32) {
    let view = views[0];
    // Points on each moving body's shapes, in the body frame, with the radius around them.
    let points: Vec<Vec<(Vec3, f32)>> = view.tiles[0]
        .rollout
        .header
        .bodies
        .iter()
        .map(|name| match view.env.spec.body(name).filter(|b| !b.fixed) {
            Some(body) => body.all_geoms().flat_map(|g| shape_points(&g.shape, vec3(g.position), Quat::from_scaled_axis(vec3(g.rotation)))).collect(),
            None => Vec::new(),
        })
        .collect();
    let (mut xs, mut ys, mut zs) = (Vec::new(), Vec::new(), Vec::new());
    for tile in views.iter().flat_map(|v| &v.tiles) {
        let poses = tile.episodes.get(episode).map_or(&[][..], |e| &e.poses[..]);
        // Every frame of short episodes, about 200 of long ones: enough to see where bodies go.
        for frame in poses.iter().step_by((poses.len() / 200).max(1)) {
            for (pose, body_points) in frame.iter().zip(&points) {
                let (at, rotation) = (Vec3::new(pose[0], pose[1], pose[2]), Quat::from_xyzw(pose[3], pose[4], pose[5], pose[6]).normalize());
                for (point, radius) in body_points {
                    let p = at + rotation * *point;
                    if p.is_finite() {
                        xs.extend([p.x - radius, p.x + radius]);
                        ys.extend([p.y - radius, p.y + radius]);
                        zs.extend([p.z - radius, p.z + radius]);
                    }
                }
            }
        }
    }
    let range = |v: &mut Vec<f32>| -> (f32, f32) {
        if v.is_empty() {
            return (-1.0, 1.0);
        }
        v.sort_by(f32::total_cmp);
        let cut = ((v.len() as f32 * FRAMING_QUANTILE) as usize).min(v.len() - 1);
        (v[cut], v[v.len() - 1 - cut])
    };
    let ((x0, x1), (y0, y1), (z0, z1)) = (range(&mut xs), range(&mut ys), range(&mut zs));
    let (mut lo, mut hi) = (Vec3::new(x0, y0, z0), Vec3::new(x1, y1, z1));
    // Targets are few points among thousands, so the quantiles would cut them; the goal is what a
    // person judges the motion against, so it is always in view.
    for p in targets.iter().filter_map(|t| t.get(episode)).flatten().filter(|p| p.is_finite()) {
        lo = lo.min(*p - TARGET_RADIUS);
        hi = hi.max(*p + TARGET_RADIUS);
    }
    // Motion in a horizontal plane (a table) is seen best from above, anything else from the side.
    let half = ((hi - lo) / 2.0).max(Vec3::splat(0.05));
    let flat = half.z < 0.25 * half.x.max(half.y);
    let pitch: f32 = if flat { 1.1 } else { 0.25 };
    // Seen from yaw 0: sim x across the tile, sim z (and, tilted by the pitch, sim y) up it.
    let (across, up) = (half.x, half.z * pitch.cos() + half.y * pitch.sin());
    let depth = half.y * pitch.cos() + half.z * pitch.sin();
    let tan = std::f32::consts::FRAC_PI_8.tan(); // Bevy's default vertical field of view is π/4
    let distance = (up / tan).max(across / (tan * aspect.max(0.1))) * FRAMING_MARGIN + depth;
    let orbit = Orbit { focus: to_bevy((lo + hi) / 2.0), yaw: 0.0, pitch, distance };
    (orbit, lo.z, 1.5 * half.x.max(half.y))
}

/// Points on a shape (in its body's frame, placed at `at` turned by `rotation`) and the radius
/// around each that its surface reaches: a box's corners, a sphere's centre, a capsule's or
/// cylinder's end centres.
fn shape_points(shape: &Shape, at: Vec3, rotation: Quat) -> Vec<(Vec3, f32)> {
    let axis = |a: &Axis| match a {
        Axis::X => Vec3::X,
        Axis::Y => Vec3::Y,
        Axis::Z => Vec3::Z,
    };
    let local: Vec<(Vec3, f32)> = match shape {
        Shape::Box { half_extents } => {
            let h = vec3(*half_extents);
            (0..8)
                .map(|i| (Vec3::new(if i & 1 == 0 { -h.x } else { h.x }, if i & 2 == 0 { -h.y } else { h.y }, if i & 4 == 0 { -h.z } else { h.z }), 0.0))
                .collect()
        }
        Shape::Sphere { radius } => vec![(Vec3::ZERO, *radius as f32)],
        Shape::Capsule { radius, half_length, axis: a } | Shape::Cylinder { radius, half_length, axis: a } => {
            let end = axis(a) * *half_length as f32;
            vec![(end, *radius as f32), (-end, *radius as f32)]
        }
    };
    local.into_iter().map(|(p, r)| (at + rotation * p, r)).collect()
}

/// A spec vector in the simulator's frame.
fn vec3(v: [f64; 3]) -> Vec3 {
    Vec3::new(v[0] as f32, v[1] as f32, v[2] as f32)
}

/// A mesh for `shape` and the rotation taking Bevy's primitive (long axis y) to the shape's
/// axis in the body frame.
fn shape_mesh(shape: &Shape) -> (Mesh, Quat) {
    let along = |axis: &Axis| match axis {
        Axis::X => Quat::from_rotation_z(-std::f32::consts::FRAC_PI_2),
        Axis::Y => Quat::IDENTITY,
        Axis::Z => Quat::from_rotation_x(std::f32::consts::FRAC_PI_2),
    };
    match shape {
        Shape::Box { half_extents: [x, y, z] } => (Cuboid::new(2.0 * *x as f32, 2.0 * *y as f32, 2.0 * *z as f32).into(), Quat::IDENTITY),
        Shape::Sphere { radius } => (Sphere::new(*radius as f32).into(), Quat::IDENTITY),
        Shape::Capsule { radius, half_length, axis } => (Capsule3d::new(*radius as f32, 2.0 * *half_length as f32).into(), along(axis)),
        Shape::Cylinder { radius, half_length, axis } => (Cylinder::new(*radius as f32, 2.0 * *half_length as f32).into(), along(axis)),
    }
}

#[allow(clippy::too_many_arguments)]
fn setup(
    mut commands: Commands,
    viewer: Res<Viewer>,
    canvas: Res<Canvas>,
    job: Res<Job>,
    plan: Option<Res<SheetPlan>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    let view = &viewer.view;
    let n = view.tiles.len();
    let first_tile = canvas.tile(0, n);
    // A sheet's tiles are single frames whose targets the plan drew from the whole rollout.
    let targets = match &plan {
        Some(plan) => plan.tiles.iter().map(|t| vec![t.targets.clone()]).collect(),
        None => episode_targets(view),
    };
    let (orbit, ground_z, ground_half) = framing(&[view], &targets, 0, first_tile.w as f32 / first_tile.h.max(1) as f32);
    // The background camera's layer is one no tile uses (a sheet has more tiles than the viewer).
    let background_layer = n + 1;
    let msaa = if matches!(job.output, Output::Window { .. }) { Msaa::Sample4 } else { Msaa::Off };
    let body_materials: Vec<Handle<StandardMaterial>> =
        BODY_COLORS.iter().map(|c| materials.add(StandardMaterial { base_color: *c, perceptual_roughness: 0.7, ..default() })).collect();
    let ground_material = materials.add(StandardMaterial { base_color: Color::srgb(0.55, 0.58, 0.55), perceptual_roughness: 1.0, ..default() });
    // See-through: a target the robot reaches into must not hide the part that reaches it.
    let target_material = materials.add(StandardMaterial { base_color: TARGET_COLOR.with_alpha(0.55), alpha_mode: AlphaMode::Blend, unlit: true, ..default() });
    // The recorded bodies (poses in the rollout's order), each with the env file's shapes placed
    // in the body's frame.
    let shapes: Vec<Vec<(Handle<Mesh>, Transform)>> = view.tiles[0]
        .rollout
        .header
        .bodies
        .iter()
        .map(|name| {
            let Some(body) = view.env.spec.body(name) else { return Vec::new() };
            body.all_geoms()
                .map(|geom| {
                    let (mesh, along) = shape_mesh(&geom.shape);
                    let placed = Quat::from_scaled_axis(vec3(geom.rotation));
                    (meshes.add(mesh), Transform::from_translation(vec3(geom.position)).with_rotation(placed * along))
                })
                .collect()
        })
        .collect();
    // A floor under where the robot went, not to the horizon: it gives depth and scale without
    // taking the tile.
    let ground = meshes.add(Plane3d::new(Vec3::Z, Vec2::splat(ground_half)));
    let marker = meshes.add(Sphere::new(TARGET_RADIUS));
    // The background camera clears the whole canvas once per frame; tile cameras draw over it.
    commands.spawn((
        Camera3d::default(),
        Camera { order: -1, clear_color: ClearColorConfig::Custom(BACKGROUND), ..default() },
        canvas.target.clone(),
        RenderLayers::layer(background_layer),
        Tonemapping::None,
        msaa,
    ));
    let all_tiles: Vec<usize> = (1..=n).collect();
    commands.spawn((
        DirectionalLight { illuminance: 4000.0, ..default() },
        Transform::from_xyz(2.0, 6.0, 4.0).looking_at(Vec3::ZERO, Vec3::Y),
        RenderLayers::from_layers(&all_tiles),
    ));
    for tile in 0..n {
        let layer = RenderLayers::layer(tile + 1);
        // A sheet frames each rollout on its own (a tile's picture does not depend on what else
        // is rendered in the same run); the viewer frames all tiles together.
        let (focus, ground_z, ground) = match plan.as_ref().and_then(|p| p.tiles.get(tile)) {
            Some(t) => (t.orbit.focus, t.ground_z, meshes.add(Plane3d::new(Vec3::Z, Vec2::splat(t.ground_half)))),
            None => (orbit.focus, ground_z, ground.clone()),
        };
        // The simulator's z-up world, turned y-up.
        let root = commands.spawn((Transform::from_rotation(Quat::from_rotation_x(-std::f32::consts::FRAC_PI_2)), Visibility::default(), layer.clone())).id();
        commands.entity(root).with_children(|parent| {
            parent.spawn((Mesh3d(ground), MeshMaterial3d(ground_material.clone()), Transform::from_xyz(focus.x, -focus.z, ground_z), layer.clone()));
            for (body, geoms) in shapes.iter().enumerate() {
                parent.spawn((BodyOf { tile, body }, Transform::default(), Visibility::default(), layer.clone())).with_children(|b| {
                    for (mesh, placement) in geoms {
                        b.spawn((Mesh3d(mesh.clone()), MeshMaterial3d(body_materials[body % body_materials.len()].clone()), *placement, layer.clone()));
                    }
                });
            }
            let first = targets.get(tile).and_then(|t| t.first()).map_or(&[][..], Vec::as_slice);
            for (index, p) in first.iter().enumerate() {
                parent.spawn((
                    Mesh3d(marker.clone()),
                    MeshMaterial3d(target_material.clone()),
                    Transform::from_translation(*p),
                    layer.clone(),
                    Marker { tile, index },
                ));
            }
        });
        commands.spawn((
            Camera3d::default(),
            Camera { order: tile as isize, clear_color: ClearColorConfig::None, ..default() },
            canvas.target.clone(),
            layer,
            Tonemapping::None,
            msaa,
            TileCamera(tile),
            Transform::default(),
        ));
    }
    commands.insert_resource(orbit);
    commands.insert_resource(Targets(targets));
    // Text on top of everything, in the same target.
    let ui_camera = commands
        .spawn((Camera2d, Camera { order: n as isize + 1, clear_color: ClearColorConfig::None, ..default() }, canvas.target.clone(), Tonemapping::None))
        .id();
    let font = TextFont::from_font_size(FontSize::Px(FONT_PX));
    commands.spawn((Node { width: percent(100), height: percent(100), ..default() }, UiTargetCamera(ui_camera))).with_children(|ui| {
        // A sheet's tiles are framed by a thin line, so that a reader (a VLM) sees the grid of
        // separate moments, not one scene.
        for tile in plan.iter().flat_map(|p| p.tiles.iter()) {
            let r = tile.rect;
            ui.spawn((
                Node {
                    position_type: PositionType::Absolute,
                    left: px(r.x as f32),
                    top: px(r.y as f32),
                    width: px(r.w as f32),
                    height: px(r.h as f32),
                    border: UiRect::all(px(1)),
                    ..default()
                },
                BorderColor::all(Color::srgb(0.6, 0.62, 0.66)),
            ));
        }
        // A sheet's time labels sit on a light box: a body passing under one must not hide it.
        let label_background = BackgroundColor(if plan.is_some() { Color::srgba(1.0, 1.0, 1.0, 0.75) } else { Color::NONE });
        for tile in 0..n {
            ui.spawn((
                Text::new(""),
                font.clone(),
                TextColor(Color::BLACK),
                label_background,
                Node { position_type: PositionType::Absolute, padding: UiRect::horizontal(px(2)), ..default() },
                TileLabel(tile),
            ));
            ui.spawn((
                ImageNode::default(),
                Node { position_type: PositionType::Absolute, display: Display::None, ..default() },
                TermStrip { tile, episode: None },
            ));
            ui.spawn((
                Text::new(""),
                TextFont::from_font_size(FontSize::Px(LEGEND_PX)),
                TextColor(Color::BLACK),
                Node { position_type: PositionType::Absolute, display: Display::None, ..default() },
                StripLegend(tile),
            ));
            ui.spawn((
                Node { position_type: PositionType::Absolute, width: px(2), display: Display::None, ..default() },
                BackgroundColor(Color::BLACK),
                StripCursor(tile),
            ));
        }
        ui.spawn((
            Text::new(""),
            font,
            TextColor(Color::WHITE),
            BackgroundColor(Color::srgba(0.0, 0.0, 0.0, 0.65)),
            Node { position_type: PositionType::Absolute, left: px(0), right: px(0), bottom: px(0), padding: UiRect::all(px(4)), ..default() },
            StatusLine,
        ));
    });
}

/// Each tile's target markers per episode (positions in m, sim frame): the env's vec3 targets
/// of unit m, drawn again from each episode's reset seed (rollouts do not store them).
fn episode_targets(view: &GenerationView) -> Vec<Vec<Vec<Vec3>>> {
    let Ok(model) = rewardsmith_sim::EnvModel::new(&view.env) else { return Vec::new() };
    let Ok(mut env) = rewardsmith_sim::Env::new(model, None) else { return Vec::new() };
    let mut targets_of = |seed: u64| -> Vec<Vec3> {
        if env.reset(seed).is_err() {
            return Vec::new();
        }
        env.targets()
            .iter()
            .zip(&view.env.spec.targets)
            .filter(|(_, spec)| spec.unit == "m")
            .filter_map(|(v, _)| match v {
                rewardsmith_script::Value::Vec3(p) => Some(Vec3::new(p.x as f32, p.y as f32, p.z as f32)),
                _ => None,
            })
            .collect()
    };
    view.tiles.iter().map(|t| t.episodes.iter().map(|e| targets_of(e.seed)).collect()).collect()
}

/// A tile's target marker: its index among the episode's targets.
#[derive(Component)]
struct Marker {
    tile: usize,
    index: usize,
}

/// Every tile's target positions per episode (see [`episode_targets`]).
#[derive(Resource)]
struct Targets(Vec<Vec<Vec<Vec3>>>);

/// Markers where the shown episode's targets are.
fn place_markers(viewer: Res<Viewer>, targets: Res<Targets>, mut markers: Query<(&Marker, &mut Transform)>) {
    for (marker, mut transform) in &mut markers {
        if let Some(p) = targets.0.get(marker.tile).and_then(|t| t.get(viewer.episode)).and_then(|e| e.get(marker.index)) {
            transform.translation = *p;
        }
    }
}

/// Follows the window's size (the offscreen image keeps its own).
fn canvas_size(mut canvas: ResMut<Canvas>, windows: Query<&Window>) {
    if canvas.image.is_none()
        && let Some(w) = windows.iter().next()
    {
        (canvas.width, canvas.height, canvas.scale) = (w.physical_width().max(1), w.physical_height().max(1), w.scale_factor());
    }
}

/// Right-drag orbits, the wheel zooms; every tile follows.
fn orbit(
    mut orbit: ResMut<Orbit>,
    buttons: Option<Res<ButtonInput<MouseButton>>>,
    motion: Option<Res<AccumulatedMouseMotion>>,
    scroll: Option<Res<AccumulatedMouseScroll>>,
) {
    let (Some(buttons), Some(motion), Some(scroll)) = (buttons, motion, scroll) else { return };
    if buttons.pressed(MouseButton::Right) {
        orbit.yaw -= motion.delta.x * 0.01;
        orbit.pitch = (orbit.pitch + motion.delta.y * 0.01).clamp(-1.5, 1.5);
    }
    if scroll.delta.y != 0.0 {
        orbit.distance = (orbit.distance * (1.0 - 0.1 * scroll.delta.y.signum())).max(0.1);
    }
}

/// A left click ranks the tile under it.
fn click(buttons: Option<Res<ButtonInput<MouseButton>>>, windows: Query<&Window>, canvas: Res<Canvas>, mut viewer: ResMut<Viewer>) {
    let Some(buttons) = buttons else { return };
    if !buttons.just_pressed(MouseButton::Left) {
        return;
    }
    if let Some(window) = windows.iter().next()
        && let Some(cursor) = window.physical_cursor_position()
    {
        let (w, h) = canvas.tiles_area();
        viewer.click(cursor.x, cursor.y, w, h);
    }
}

/// Every body at its tile's current frame.
fn pose_bodies(viewer: Res<Viewer>, mut bodies: Query<(&BodyOf, &mut Transform)>) {
    for (of, mut transform) in &mut bodies {
        let Some(episode) = viewer.shown_episode(of.tile) else { continue };
        let frame = viewer.playback.frame_for(episode.frames());
        if let Some(p) = episode.poses.get(frame).and_then(|f| f.get(of.body)) {
            *transform = Transform { translation: Vec3::new(p[0], p[1], p[2]), rotation: Quat::from_xyzw(p[3], p[4], p[5], p[6]).normalize(), ..default() };
        }
    }
}

/// The tile's area for the 3D view: the whole tile, or above the strip when it is shown.
fn scene_rect(viewer: &Viewer, tile: usize, canvas: &Canvas) -> (Rect, Option<Rect>) {
    let rect = canvas.tile(tile, viewer.view.tiles.len());
    if !viewer.show_terms {
        return (rect, None);
    }
    let strip_h = ((rect.h as f32) * STRIP_FRACTION) as u32;
    (Rect { h: rect.h - strip_h, ..rect }, Some(Rect { y: rect.y + rect.h - strip_h, h: strip_h, ..rect }))
}

fn place_cameras(
    viewer: Res<Viewer>,
    canvas: Res<Canvas>,
    orbit: Res<Orbit>,
    plan: Option<Res<SheetPlan>>,
    mut cameras: Query<(&TileCamera, &mut Camera, &mut Transform)>,
) {
    for (tile, mut camera, mut transform) in &mut cameras {
        let sheet_tile = plan.as_ref().and_then(|p| p.tiles.get(tile.0));
        let orbit = sheet_tile.map_or(&*orbit, |t| &t.orbit);
        let offset = Vec3::new(orbit.yaw.sin() * orbit.pitch.cos(), orbit.pitch.sin(), orbit.yaw.cos() * orbit.pitch.cos()) * orbit.distance;
        let rect = sheet_tile.map_or_else(|| scene_rect(&viewer, tile.0, &canvas).0, |t| t.scene);
        let viewport = Viewport { physical_position: UVec2::new(rect.x, rect.y), physical_size: UVec2::new(rect.w.max(1), rect.h.max(1)), ..default() };
        // Only a real change: a write marks the camera changed for the renderer.
        let same = camera.viewport.as_ref().is_some_and(|v| v.physical_position == viewport.physical_position && v.physical_size == viewport.physical_size);
        if !same {
            camera.viewport = Some(viewport);
        }
        *transform = Transform::from_translation(orbit.focus + offset).looking_at(orbit.focus, Vec3::Y);
    }
}

/// Tile labels and the status line, in logical pixels (the UI's unit).
fn labels(
    viewer: Res<Viewer>,
    canvas: Res<Canvas>,
    plan: Option<Res<SheetPlan>>,
    mut tile_labels: Query<(&TileLabel, &mut Text, &mut Node), Without<StatusLine>>,
    mut status: Query<(&mut Text, &mut Node), With<StatusLine>>,
) {
    let scale = canvas.scale;
    for (label, mut text, mut node) in &mut tile_labels {
        let tile = &viewer.view.tiles[label.0];
        let rect = canvas.tile(label.0, viewer.view.tiles.len());
        node.left = px(rect.x as f32 / scale + 4.0);
        node.top = px(rect.y as f32 / scale + 2.0);
        // A narrow tile wraps its label onto a second line instead of writing into its neighbour's.
        node.max_width = px((rect.w as f32 / scale - 8.0).max(0.0));
        if let Some(sheet_tile) = plan.as_ref().and_then(|p| p.tiles.get(label.0)) {
            if text.0 != sheet_tile.label {
                text.0.clone_from(&sheet_tile.label);
            }
            continue;
        }
        let mut line = if canvas.status {
            format!("[{}] {}", tile_key(label.0), tile.candidate)
        } else {
            format!("{}  t = {:.2} s", tile.candidate, viewer.playback.seconds())
        };
        if viewer.show_fitness {
            line += &tile.fitness.map_or(" (no fitness)".to_owned(), |f| format!("  fitness {f:.3}"));
            if let Some(episode) = viewer.shown_episode(label.0) {
                let so_far = episode.fitness_so_far(viewer.playback.frame_for(episode.frames()), viewer.view.env.spec.fitness.aggregate);
                line += &format!("  (this episode so far {so_far:.3})");
            }
        }
        if let Some(episode) = viewer.shown_episode(label.0)
            && viewer.playback.frame() >= episode.frames()
        {
            line += if episode.terminated { "  [terminated]" } else { "  [ended]" };
        }
        if let Some(place) = viewer.ranker.place(label.0) {
            line += &format!("  #{}", place + 1);
        }
        text.0 = line;
    }
    for (mut text, mut node) in &mut status {
        node.display = if canvas.status { Display::Flex } else { Display::None };
        let p = &viewer.playback;
        text.0 = format!(
            "t = {:.2} s  frame {}/{}  speed {}x{}   {}\n{}",
            p.seconds(),
            p.frame(),
            p.frames() - 1,
            p.speed,
            if p.paused { "  paused" } else { "" },
            viewer.status,
            HELP
        );
    }
}

/// The term strips: drawn when shown and the episode changed; the cursor follows the clock.
#[allow(clippy::type_complexity)]
fn strips(
    viewer: Res<Viewer>,
    canvas: Res<Canvas>,
    mut images: ResMut<Assets<Image>>,
    mut strips: Query<(&mut TermStrip, &mut ImageNode, &mut Node), (Without<StripLegend>, Without<StripCursor>)>,
    mut legends: Query<(&StripLegend, &mut Text, &mut Node), (Without<TermStrip>, Without<StripCursor>)>,
    mut cursors: Query<(&StripCursor, &mut Node), (Without<TermStrip>, Without<StripLegend>)>,
) {
    let scale = canvas.scale;
    let shown = if viewer.show_terms { Display::Flex } else { Display::None };
    let place = |node: &mut Node, r: Rect| {
        node.left = px(r.x as f32 / scale);
        node.top = px(r.y as f32 / scale);
        node.width = px(r.w as f32 / scale);
        node.height = px(r.h as f32 / scale);
    };
    for (mut strip, mut image, mut node) in &mut strips {
        node.display = shown;
        let (_, Some(rect)) = scene_rect(&viewer, strip.tile, &canvas) else { continue };
        let rect = strip_parts(rect, scale).1;
        place(&mut node, rect);
        if strip.episode != Some(viewer.episode)
            && let Some(episode) = viewer.shown_episode(strip.tile)
        {
            image.image = images.add(strip_image(episode, rect.w.max(16), rect.h.max(8)));
            strip.episode = Some(viewer.episode);
        }
    }
    for (legend, mut text, mut node) in &mut legends {
        node.display = shown;
        let (_, Some(rect)) = scene_rect(&viewer, legend.0, &canvas) else { continue };
        let rect = strip_parts(rect, scale).0;
        node.left = px(rect.x as f32 / scale + 2.0);
        node.top = px(rect.y as f32 / scale);
        node.width = px(rect.w as f32 / scale - 4.0);
        node.height = px(rect.h as f32 / scale);
        node.overflow = Overflow::clip();
        let names = &viewer.view.tiles[legend.0].rollout.header.terms;
        text.0 = names
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{} {n}", color_name(term_color(i))))
            .chain([format!("{} fitness", color_name(FITNESS_COLOR))])
            .collect::<Vec<_>>()
            .join("  ");
    }
    for (cursor, mut node) in &mut cursors {
        node.display = shown;
        let (_, Some(rect)) = scene_rect(&viewer, cursor.0, &canvas) else { continue };
        let rect = strip_parts(rect, scale).1;
        let Some(episode) = viewer.shown_episode(cursor.0) else { continue };
        let frames = episode.frames().max(2);
        let x = rect.x as f32 + rect.w as f32 * viewer.playback.frame_for(frames) as f32 / (frames - 1) as f32;
        node.left = px(x / scale);
        node.top = px(rect.y as f32 / scale);
        node.height = px(rect.h as f32 / scale);
    }
}

/// The strip's area split into the legend's row on top and the plot below it, so that the legend
/// never covers a curve (pixels; `scale` is physical pixels per logical one).
fn strip_parts(rect: Rect, scale: f32) -> (Rect, Rect) {
    let legend = (((LEGEND_PX + 4.0) * scale) as u32).min(rect.h / 2);
    (Rect { h: legend, ..rect }, Rect { y: rect.y + legend, h: rect.h - legend, ..rect })
}

/// A word for a curve colour in the legend (the default font has no coloured glyphs).
fn color_name(c: (u8, u8, u8)) -> &'static str {
    const NAMES: [&str; 8] = ["blue", "orange", "green", "red", "purple", "brown", "pink", "olive"];
    crate::plot::PALETTE.iter().position(|p| *p == c).map_or("black", |i| NAMES[i])
}

fn strip_image(episode: &Episode, width: u32, height: u32) -> Image {
    let rgb = term_strip(episode, width, height);
    let rgba: Vec<u8> = rgb.chunks(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
    Image::new(Extent3d { width, height, depth_or_array_layers: 1 }, TextureDimension::D2, rgba, TextureFormat::Rgba8UnormSrgb, RenderAssetUsages::default())
}

/// Screenshots and GIF frames: requested from the render target, collected by an observer.
fn capture(
    mut commands: Commands,
    mut job: ResMut<Job>,
    mut viewer: ResMut<Viewer>,
    canvas: Res<Canvas>,
    shared: Res<Shared>,
    mut exit: MessageWriter<AppExit>,
) {
    job.frame += 1;
    if job.pending {
        return;
    }
    let screenshot = || match &canvas.image {
        Some(image) => Screenshot::image(image.clone()),
        None => Screenshot::primary_window(),
    };
    match job.output.clone() {
        Output::Window { screenshot: None } | Output::Offscreen { screenshot: None } => {}
        output @ (Output::Window { screenshot: Some(_) } | Output::Offscreen { screenshot: Some(_) } | Output::Sheets { .. }) => {
            // A screenshot is the whole image; sheets are parts of it.
            let (files, frames): (Vec<(PathBuf, Option<Rect>)>, u32) = match output {
                Output::Window { screenshot: Some((path, frames)) } | Output::Offscreen { screenshot: Some((path, frames)) } => (vec![(path, None)], frames),
                Output::Sheets { sheets } => (sheets.into_iter().map(|(path, rect)| (path, Some(rect))).collect(), WARMUP_FRAMES),
                _ => return,
            };
            if job.frame < frames.max(1) {
                return;
            }
            // Hold the frame reached and capture until two captures agree: the renderer may
            // still be compiling pipelines after any fixed number of frames.
            viewer.playback.paused = true;
            job.pending = true;
            let shared = shared.0.clone();
            commands.spawn(screenshot()).observe(move |captured: On<ScreenshotCaptured>, mut job: ResMut<Job>, mut exit: MessageWriter<AppExit>| {
                job.pending = false;
                let Ok(rgba) = captured.image.clone().try_into_dynamic().map(|i| i.to_rgba8().into_raw()) else {
                    shared.lock().unwrap_or_else(|e| e.into_inner()).error = Some("unreadable screenshot".into());
                    exit.write(AppExit::Success);
                    return;
                };
                let stable = job.captures.last() == Some(&rgba);
                job.captures = vec![rgba];
                job.shot += 1;
                if !stable && (job.shot as u32) < MAX_WARMUP_CAPTURES {
                    return;
                }
                let mut outcome = shared.lock().unwrap_or_else(|e| e.into_inner());
                for (path, rect) in &files {
                    match save_png(&captured.image, path, *rect) {
                        Ok(()) => outcome.frames_saved += 1,
                        Err(e) => {
                            outcome.error = Some(e);
                            break;
                        }
                    }
                }
                exit.write(AppExit::Success);
            });
        }
        Output::Gif { path, stride, delay_cs } => {
            let frames = viewer.view.frames(0);
            let wanted: Vec<usize> = (0..frames).step_by(stride.max(1)).collect();
            if job.shot >= wanted.len() {
                let result = write_gif(&path, canvas.width, canvas.height, &job.captures, delay_cs);
                let mut outcome = shared.0.lock().unwrap_or_else(|e| e.into_inner());
                match result {
                    Ok(()) => outcome.frames_saved = job.captures.len(),
                    Err(e) => outcome.error = Some(e),
                }
                exit.write(AppExit::Success);
                return;
            }
            viewer.playback.paused = true;
            viewer.playback.seek(wanted[job.shot]);
            if job.frame < WARMUP_FRAMES {
                return;
            }
            job.pending = true;
            let shared = shared.0.clone();
            commands.spawn(screenshot()).observe(move |captured: On<ScreenshotCaptured>, mut job: ResMut<Job>| {
                job.pending = false;
                let rgba = match captured.image.clone().try_into_dynamic() {
                    Ok(image) => image.to_rgba8().into_raw(),
                    Err(e) => {
                        shared.lock().unwrap_or_else(|e| e.into_inner()).error = Some(format!("unreadable frame: {e}"));
                        return;
                    }
                };
                // Until the renderer is warm (two identical captures of the first frame), the
                // captures only count as warm-up.
                let warm = job.shot > 0 || job.captures.last() == Some(&rgba);
                if warm {
                    if job.shot == 0 {
                        job.captures.clear();
                    }
                    job.captures.push(rgba);
                    job.shot += 1;
                } else {
                    job.captures = vec![rgba];
                    if job.frame > MAX_WARMUP_CAPTURES + WARMUP_FRAMES {
                        shared.lock().unwrap_or_else(|e| e.into_inner()).error = Some("the first frame never rendered the same twice".into());
                    }
                }
            });
        }
    }
}

/// Saves `image`, or the part of it in `rect` (pixels), as an RGB PNG file (written atomically:
/// a judge reading sheets never sees half of one).
fn save_png(image: &Image, path: &Path, rect: Option<Rect>) -> Result<(), String> {
    let mut image = image.clone().try_into_dynamic().map_err(|e| format!("unreadable screenshot: {e}"))?;
    if let Some(r) = rect {
        image = image.crop_imm(r.x, r.y, r.w, r.h);
    }
    let png = bevy::image::ImageFormat::Png.as_image_crate_format().ok_or("no PNG encoder")?;
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.to_rgb8().write_to(&mut bytes, png).map_err(|e| format!("{}: {e}", path.display()))?;
    rewardsmith_search::record::write_atomic(path, bytes.get_ref()).map_err(|e| e.to_string())
}

/// Encodes RGBA frames of `width` × `height` as a looping GIF.
fn write_gif(path: &std::path::Path, width: u32, height: u32, frames: &[Vec<u8>], delay_cs: u16) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let (w, h) = (u16::try_from(width).map_err(|e| fail(&e))?, u16::try_from(height).map_err(|e| fail(&e))?);
    let mut bytes = Vec::new();
    {
        let mut encoder = gif::Encoder::new(&mut bytes, w, h, &[]).map_err(|e| fail(&e))?;
        encoder.set_repeat(gif::Repeat::Infinite).map_err(|e| fail(&e))?;
        for rgba in frames {
            let mut rgba = rgba.clone();
            // Speed 10 of 30: NeuQuant quantisation good enough for flat-shaded scenes.
            let mut frame = gif::Frame::from_rgba_speed(w, h, &mut rgba, 10);
            frame.delay = delay_cs;
            encoder.write_frame(&frame).map_err(|e| fail(&e))?;
        }
    }
    rewardsmith_search::record::write_atomic(path, &bytes).map_err(|e| fail(&e))
}

/// Copies what the caller needs into the shared outcome, every frame (the app may stop at any).
fn report(viewer: Res<Viewer>, shared: Res<Shared>) {
    let mut outcome = shared.0.lock().unwrap_or_else(|e| e.into_inner());
    outcome.ranking = viewer.written.clone();
    outcome.status = viewer.status.clone();
}

/// Height of a sheet tile's label band (pixels): one line of text and its margins.
const LABEL_BAND_PX: u32 = FONT_PX as u32 + 6;

/// A contact sheet run's tiles: one frame of one rollout each.
#[derive(Resource)]
struct SheetPlan {
    tiles: Vec<SheetTile>,
}

/// One tile of a contact sheet.
struct SheetTile {
    /// Where it is on the render target, pixels.
    rect: Rect,
    /// Where its camera draws: the tile below the band its label takes, so that no label
    /// hides part of the scene.
    scene: Rect,
    /// Its camera: its sheet's framing of the whole episode, the same for every tile of a sheet
    /// so that motion shows as change between tiles.
    orbit: Orbit,
    /// The ground's height (sim z, m) and half size (m), as the sheet's framing placed it.
    ground_z: f32,
    ground_half: f32,
    /// The episode's target markers (m, sim frame).
    targets: Vec<Vec3>,
    /// Its label: the frame's time.
    label: String,
}

/// Renders a contact sheet of each `(rollout, png)` pair, all in one offscreen run (one process
/// start and one pipeline warm-up for a whole generation), and returns how many were written.
///
/// Each sheet shows `options.frames` frames of the rollout's episode `options.episode` at evenly
/// spaced times (the first and the last frame included; [`frame_indices`]), `options.columns`
/// to a row, each in a `options.tile` tile labelled with its time (`t = 1.20 s`, simulated
/// seconds since the reset; `(terminated)` on the last when the episode ended by a termination)
/// in a band above its picture, each tile framed by a thin line. Every tile of every sheet of one
/// call has the same camera, framing where the bodies went over all their episodes, so motion
/// shows as change between tiles and sheets drawn together compare (a vision model ranks a
/// generation's sheets side by side); a sheet depends on the others of its call, and the same
/// call draws the same sheets. Each PNG is `columns × tile width`
/// by `rows × tile height` pixels ([`SheetOptions::size`]), RGB. The rollouts must share one
/// environment (a generation's do); rendering is deterministic for a machine (a capture is
/// taken once two in a row agree).
pub fn render_sheets(jobs: &[(PathBuf, PathBuf)], options: &SheetOptions) -> Result<usize, RenderError> {
    options.check().map_err(RenderError::Sheet)?;
    if jobs.is_empty() {
        return Err(RenderError::Sheet("no rollout to draw a sheet of".into()));
    }
    let sheet = options.size();
    let Some(Packing { origins, width, height }) = pack(jobs.len(), sheet) else {
        return Err(RenderError::Sheet(format!(
            "{} sheets of {}x{} pixels do not fit on one {}-pixel render target; render them in several runs",
            jobs.len(),
            sheet.0,
            sheet.1,
            crate::sheet::MAX_CANVAS_PX
        )));
    };
    let mut tiles: Vec<Tile> = Vec::new();
    let mut plan = SheetPlan { tiles: Vec::new() };
    let mut env = None;
    let mut sources = Vec::with_capacity(jobs.len());
    for (rollout, _) in jobs {
        let source = GenerationView::from_rollout(rollout)?;
        let header = &source.tiles[0].rollout.header;
        match &env {
            None => env = Some(source.env.clone()),
            Some(first) if first.hash != source.env.hash => {
                return Err(RenderError::Sheet(format!(
                    "{}: recorded in {} ({}), not in {} like the first rollout; render sheets of different environments in separate runs",
                    rollout.display(),
                    header.env_id,
                    header.env_path,
                    first.spec.id
                )));
            }
            Some(_) => {}
        }
        if source.tiles[0].episodes.get(options.episode).is_none() {
            let n = source.tiles[0].episodes.len();
            return Err(RenderError::Sheet(format!("{}: no episode {} (it has {n})", rollout.display(), options.episode)));
        }
        let targets = episode_targets(&source);
        sources.push((source, targets));
    }
    let band = LABEL_BAND_PX.min(options.tile.1 / 4);
    let aspect = options.tile.0 as f32 / (options.tile.1 - band) as f32;
    // One camera for all the sheets drawn together: a generation's candidates are compared side
    // by side, so the pictures must differ by what the policies did, not by the zoom.
    let views: Vec<&GenerationView> = sources.iter().map(|(v, _)| v).collect();
    let all_targets: Vec<Vec<Vec<Vec3>>> = sources.iter().flat_map(|(_, t)| t.iter().cloned()).collect();
    let (orbit, ground_z, ground_half) = framing(&views, &all_targets, options.episode, aspect);
    for ((source, targets), &(x, y)) in sources.iter().zip(&origins) {
        let header = &source.tiles[0].rollout.header;
        let episode = &source.tiles[0].episodes[options.episode];
        let episode_targets = targets.first().and_then(|t| t.get(options.episode)).cloned().unwrap_or_default();
        let dt = source.env.spec.control_dt();
        let frames = frame_indices(episode.frames(), options.frames);
        for (i, &frame) in frames.iter().enumerate() {
            let mut label = time_label(frame as f64 * dt);
            if i + 1 == frames.len() && episode.terminated {
                label += " (terminated)";
            }
            let rect = options.tile_rect(x, y, i);
            plan.tiles.push(SheetTile {
                rect,
                scene: Rect { y: rect.y + band, h: rect.h - band, ..rect },
                orbit: orbit.clone(),
                ground_z,
                ground_half,
                targets: episode_targets.clone(),
                label,
            });
            // The tile is a one-frame episode: the shared clock then shows each tile's own frame.
            let still = Episode {
                seed: episode.seed,
                poses: vec![episode.poses[frame].clone()],
                terms: Vec::new(),
                fitness: Vec::new(),
                terminated: episode.terminated,
            };
            let rollout = Rollout { header: header.clone(), records: Vec::new() };
            tiles.push(Tile { candidate: source.tiles[0].candidate.clone(), rollout, episodes: vec![still], fitness: None });
        }
    }
    let Some(env) = env else { return Err(RenderError::Sheet("no rollout to draw a sheet of".into())) };
    let run = jobs[0].0.parent().map(Path::to_owned).unwrap_or_default();
    let view = GenerationView { run, generation: 0, tiles, env, request: None, human_feedback: false, ranked: None };
    let outputs = jobs.iter().zip(&origins).map(|((_, png), &(x, y))| (png.clone(), Rect { x, y, w: sheet.0, h: sheet.1 })).collect();
    let options = Options { width, height, show_terms: false };
    let outcome = run_with(view, options, Output::Sheets { sheets: outputs }, ScriptedKeys::default(), Some(plan))?;
    if outcome.frames_saved != jobs.len() {
        return Err(RenderError::Capture(format!(
            "{} of {} sheets written; is a Vulkan driver installed (Mesa's lavapipe: apt-get install mesa-vulkan-drivers libvulkan1)?",
            outcome.frames_saved,
            jobs.len()
        )));
    }
    Ok(outcome.frames_saved)
}
